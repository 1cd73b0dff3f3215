//! Cuadra's test tooling, kept out of the product crates: fake outside systems that speak the real protocols over
//! real HTTP on `127.0.0.1:0`, and the seeded scenario generator. Used by the integration tests, the benches and
//! the connector crates' own tests; never a dependency of the product (`publish = false`).
//!
//! # Layout
//! - [`sat`]: `FakeSat`, the SAT Descarga Masiva web service (real SOAP, signatures checked, scriptable).
//! - [`erp`]: `FakeOdoo` (Odoo JSON-RPC), `Receiver` (a Standard Webhooks endpoint), `ErpFeed` (a JSON pull
//!   endpoint).
//! - [`fiel`], [`package`]: a test FIEL made with openssl; a SAT package (stored zip) in memory.
//! - [`scenario`]: finds (building it when needed) the `cuadra-scenario` binary, whose sources are in
//!   `src/bin/cuadra-scenario/` (generator and scorer, docs/scenario.md).

pub mod erp;
pub mod fiel;
pub mod package;
pub mod sat;
pub mod scenario;
