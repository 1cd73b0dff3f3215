//! Helpers shared by the test modules.

use cuadra_bank::{parse_statement, Format, ParseOptions, Parsed};
use std::path::{Path, PathBuf};

pub fn own_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn parse_file(format: Format, path: &Path) -> Parsed {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_statement(format, &bytes, &ParseOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The shared corpus folder, or `None` (with a printed reason) when it is absent.
pub fn shared_bank() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/bank");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("skipping: shared fixtures not found at {}", p.display());
        None
    }
}
