//! Fake ERP peers for tests, speaking the real protocols over real HTTP on 127.0.0.1:0: [`FakeOdoo`] (Odoo
//! JSON-RPC), [`Receiver`] (a Standard Webhooks endpoint) and [`ErpFeed`] (a pull endpoint in the shape of
//! `cuadra_erp::http::shape`).

mod domain;
mod feed;
mod odoo;
mod odoo_models;
mod receiver;

pub use feed::ErpFeed;
pub use odoo::{Call, FakeOdoo, OdooState, Outage, API_KEY, DATABASE, UID, USERNAME};
pub use receiver::{Received, Receiver, ReceiverFailure};
