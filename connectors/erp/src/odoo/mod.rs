//! The Odoo connector (`kind = "odoo"`, Odoo 16–18 over JSON-RPC at `/jsonrpc`): [`OdooSource`] pulls customers
//! and posted customer invoices with a `write_date` checkpoint; [`OdooSink`] registers each allocation as a
//! payment the way Odoo's "Register payment" wizard does, idempotently, and reverses it on unmatch.

pub mod map;
pub mod rpc;
mod sink;
mod source;

pub use rpc::OdooClient;
pub use sink::{Allocation, OdooSink};
pub use source::{OdooCheckpoint, OdooSource};
