//! The customer master as a file family (`customers`): CSV or XLSX lists of customers with the contract's columns
//! (English or Spanish headers), read by `cuadra import customers` and the inbox folder. Bad rows are reported by
//! line and skipped; a file becomes one delivery holding one customer record per good row.
//!
//! # Layout
//! - [`master`]: reading the file (CSV delimiter sniffing, spreadsheets, header names, row checks) and the delivery.
//! - [`CustomersImporter`]: the SDK `FileImporter` of family `customers`.

// The SDK's `InputError` (the FileImporter contract) is larger than clippy likes in a `Result`.
#![allow(clippy::result_large_err)]

pub mod master;

pub use master::{delivery, parse_file, CustomerRow, ParsedCustomers};

use cuadra_sdk::{Delivery, FileImporter, ImportOptions, InputError, Location};
use std::path::Path;

/// A file that cannot be read at all (as opposed to a bad row, which is an [`InputError`] and skipped). The
/// message says what was being done and why it failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct FileError(pub String);

impl FileError {
    fn new(what: String, cause: impl std::fmt::Display) -> Self {
        FileError(format!("{what}: {cause}"))
    }
}

/// The customer master as a file family.
pub struct CustomersImporter;

impl FileImporter for CustomersImporter {
    fn family(&self) -> &'static str {
        "customers"
    }

    fn sniff(&self, file_name: &str, head: &[u8]) -> bool {
        let lower = file_name.to_ascii_lowercase();
        if lower.ends_with(".xlsx") || lower.ends_with(".xls") || lower.ends_with(".ods") {
            return true;
        }
        if !(lower.ends_with(".csv") || lower.ends_with(".txt")) {
            return false;
        }
        let first = String::from_utf8_lossy(head)
            .lines()
            .next()
            .unwrap_or("")
            .to_lowercase();
        let has = |w: &str| {
            first
                .split([',', ';', '\t', '|'])
                .any(|c| c.trim().trim_start_matches('\u{feff}') == w)
        };
        has("rfc") && (has("name") || has("razon_social") || has("razón_social") || has("nombre"))
    }

    fn read(
        &self,
        path: &Path,
        _opts: &ImportOptions,
        out: &mut dyn FnMut(Delivery) -> Result<(), InputError>,
        bad: &mut dyn FnMut(InputError),
    ) -> Result<(), InputError> {
        let loc = || Location {
            file: Some(path.display().to_string()),
            ..Default::default()
        };
        let parsed = parse_file(path).map_err(|e| InputError::new(loc(), e.to_string()))?;
        for e in &parsed.errors {
            bad(e.clone());
        }
        if !parsed.rows.is_empty() {
            let d = delivery(path, &parsed).map_err(|e| InputError::new(loc(), e.to_string()))?;
            out(d)?;
        }
        Ok(())
    }
}
