//! Entry points shared by the cargo-fuzz targets (`fuzz/fuzz_targets/cfdi_parse.rs`, `sat_metadata.rs`,
//! `sat_package.rs`) and the in-crate random-input tests: each must return, never panic, on any bytes.

use cuadra_sdk::Rfc;

fn company() -> Vec<Rfc> {
    Rfc::parse("EKU9003173C9").into_iter().collect()
}

/// Parses and normalizes arbitrary bytes as a CFDI.
pub fn cfdi_parse(data: &[u8]) {
    if let Ok(c) = crate::parse(data) {
        let _ = crate::normalize(&c, &company());
    }
}

/// Reads arbitrary bytes as a SAT metadata file.
pub fn sat_metadata(data: &[u8]) {
    let _ = crate::read_metadata(data, &mut |_| Ok(()), &mut |_| {});
}

/// Reads arbitrary bytes as a SAT package.
pub fn sat_package(data: &[u8]) {
    let limits = crate::Limits {
        max_document_bytes: 1024 * 1024,
        max_metadata_bytes: 4 * 1024 * 1024,
        max_expansion_ratio: 100,
    };
    let _ = crate::read_package_bytes(
        data,
        None,
        &company(),
        &limits,
        &mut |_| Ok(()),
        &mut |_| {},
    );
}
