//! Cuadra keeps a Mexican company's accounts receivable true: it ingests SAT CFDI, bank statements, SPEI and
//! payment-provider webhooks into one ledger, reconciles payments with invoices and syncs the ERP.
//!
//! # Layout
//! - [`config`]: settings (defaults, TOML file, `CUADRA__...` environment), validated with errors naming the key.
//! - [`model`]: plain data the layers hand each other (reconcile's input and decision), below all of them.
//! - [`store`]: the ledger on SQLite or PostgreSQL (one API; what differs between the two is `store/dialect.rs`),
//!   ingest, links, reports, reconcile's loading and writing.
//! - [`reconcile`]: the engine and its run (lease, load → decide → write); it stands above the store.
//! - [`app`]: settings + store + configured connectors, and the use cases (import, reconcile, manual match)
//!   shared by the CLI and the API.
//! - [`registry`]: the explicit list of connector kinds (each built by its own crate) and file families.
//! - [`import`]: the file import pipeline behind `cuadra import` and the inbox; [`customers`]: the customer master (read by
//!   `connectors/customers`).
//! - [`daemon`]: `cuadra run` (HTTP, scheduler, inbox watcher, graceful shutdown).
//! - [`outbox`]: delivery of captured changes to sink connectors.
//! - [`cli`]: the command line; [`output`]: report rendering; [`metrics`], [`telemetry`]: observability.

// The SDK's `InputError` carries its full location by value (see connectors/sdk).
#![allow(clippy::result_large_err)]

pub mod app;
pub mod cli;
pub mod config;
pub mod customers;
pub mod daemon;
pub mod import;
pub mod metrics;
pub mod model;
pub mod outbox;
pub mod output;
pub mod reconcile;
pub mod registry;
pub mod scheduler;
pub mod store;
pub mod telemetry;
