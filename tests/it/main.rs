//! Cuadra's integration suite: one binary, modules per capability. Storage and end-to-end tests run on SQLite and
//! PostgreSQL (one suite, two backends).

mod api;
mod cfdi;
mod cli;
mod concurrency;
mod conflicts;
mod customers;
mod daemon;
mod erp;
mod helpers;
mod http_limits;
mod outbox;
mod reconcile;
mod reconcile_refs;
mod rep;
mod returns;
mod sat;
mod statements;
mod store;
mod tour;
mod toy;
mod webhooks;
