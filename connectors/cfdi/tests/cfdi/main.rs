//! Integration tests of cuadra-cfdi: hand-written fixtures (always) and the shared SAT corpus (when present).

#![allow(clippy::result_large_err)]

mod conformance;
mod documents;
mod packages;
mod random;

use std::path::PathBuf;

pub fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub fn company() -> Vec<cuadra_sdk::Rfc> {
    vec![cuadra_sdk::Rfc::parse("EKU9003173C9").unwrap()]
}

pub fn dec(s: &str) -> rust_decimal::Decimal {
    cuadra_sdk::parse_decimal(s).unwrap()
}
