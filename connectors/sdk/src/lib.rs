//! Cuadra connector SDK: the traits every connector implements and the normalized record types they produce.
//!
//! Connectors never touch the database. A **source** yields [`Delivery`]s (raw bytes plus the records parsed from
//! them) together with an opaque [`Checkpoint`]; the daemon stores both in one transaction. A **sink** receives
//! outbox messages carrying an idempotency key. A **webhook** handler verifies a request before anything parses it
//! ([`VerifiedRequest`] can only be built by verification). A **file importer** reads dropped files.
//!
//! # Layout
//! - [`money`]: `Money`, `Currency`, exact micro-unit storage conversion.
//! - [`ids`]: `Rfc`, `Clabe`, `CfdiUuid`, `IdempotencyKey` (parse, don't validate).
//! - [`records`]: the normalized records (customer, invoice, credit, payment, remittance, CFDI status).
//! - [`connector`]: `Source`, `Sink`, `WebhookHandler`, `FileImporter` and their errors.
//! - [`kind`]: the connector contract (`ConnectorKind`): typed settings from the table, build, doctor, describe;
//!   `lenient`: the table deserializer that reads environment strings as numbers and booleans.
//! - [`standard_webhooks`]: Standard Webhooks signing and verification (`SigningKey`).
//! - [`secrets`]: secrets read from `*_file` keys, constant-time comparison.
//! - [`json_decimal`]: exact decimals from JSON number literals and strings.

// `InputError` carries a full location (file, entry, line, column, field) by value; boxing it would make every
// parser's error path allocate twice for no gain.
#![allow(clippy::result_large_err)]

pub mod connector;
pub mod ids;
pub mod json_decimal;
pub mod kind;
mod lenient;
pub mod money;
pub mod records;
pub mod secrets;
pub mod standard_webhooks;

pub use connector::*;
pub use ids::*;
pub use json_decimal::{json_decimal, Exponent};
pub use kind::{ConfigError, ConnectorKind, Doctor, KindContext, Parts};
pub use money::*;
pub use records::*;
pub use secrets::{constant_time_eq, read_secret_file};
