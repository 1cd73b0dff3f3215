//! Integration tests for cuadra-bank: hand-written fixtures per format (`formats`), identities across
//! overlapping statements (`overlap`), the importer's deliveries (`importer`), the fuzz stand-in loop (`fuzz`),
//! and the conformance suite over `../shared/fixtures/bank` when it is present (`conformance`).

// The SDK's `InputError` (the FileImporter contract) is larger than clippy likes in a `Result`.
#![allow(clippy::result_large_err)]

mod conformance;
mod csv_rows;
mod formats;
mod fuzz;
mod importer;
mod overlap;
mod returns;
mod support;
