//! Entry points shared by the cargo-fuzz targets (`fuzz/fuzz_targets/{camt,mt940,ofx,csv_statement}.rs`) and
//! the in-crate stand-in loop test: each parses arbitrary bytes and checks the invariants that must hold for
//! any input (no panic; spans inside the input; ids non-empty).

use crate::{parse_statement, Format, ParseOptions};

fn check(format: Format, data: &[u8], opts: &ParseOptions) {
    if let Ok(p) = parse_statement(format, data, opts) {
        for e in &p.entries {
            assert!(
                e.span.start <= e.span.end && e.span.end <= data.len(),
                "span outside the input"
            );
            assert!(!e.record.external_id.is_empty(), "empty external_id");
        }
    }
}

pub fn camt(data: &[u8]) {
    check(Format::Camt053, data, &ParseOptions::default());
}

pub fn mt940(data: &[u8]) {
    check(Format::Mt940, data, &ParseOptions::default());
}

pub fn ofx(data: &[u8]) {
    check(Format::Ofx, data, &ParseOptions::default());
}

pub fn csv_statement(data: &[u8]) {
    let opts = ParseOptions {
        csv: crate::presets::preset("mx-normalizado"),
        ..ParseOptions::default()
    };
    check(Format::Csv, data, &opts);
    check(Format::Csv, data, &ParseOptions::default());
}
