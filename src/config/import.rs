//! `[import]`: limits of the file import pipeline behind `cuadra import` and the inbox folder (the statements
//! folder connector has its own keys, `max_file_bytes` / `max_field_bytes`, in its `[connectors.NAME]` table).

use anyhow::bail;
use serde::Deserialize;

/// Largest statement file read by `cuadra import statement` and the inbox, by default (64 MiB).
const DEFAULT_STATEMENT_MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Longest text field of a statement record kept, by default (4 KiB); a longer one is cut with a warning.
const DEFAULT_STATEMENT_MAX_FIELD_BYTES: usize = 4 * 1024;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportSettings {
    /// Largest bank statement file read, in bytes; a larger file is refused naming the limit.
    #[serde(default = "default_file_bytes")]
    pub statement_max_file_bytes: u64,
    /// Longest text field (concepto, payer name, ...) of a statement record kept, in bytes.
    #[serde(default = "default_field_bytes")]
    pub statement_max_field_bytes: usize,
}

impl Default for ImportSettings {
    fn default() -> Self {
        ImportSettings {
            statement_max_file_bytes: default_file_bytes(),
            statement_max_field_bytes: default_field_bytes(),
        }
    }
}

fn default_file_bytes() -> u64 {
    DEFAULT_STATEMENT_MAX_FILE_BYTES
}

fn default_field_bytes() -> usize {
    DEFAULT_STATEMENT_MAX_FIELD_BYTES
}

impl ImportSettings {
    /// A limit of 0 would refuse every file (or empty every field): refused at load, naming the key.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.statement_max_file_bytes == 0 {
            bail!("import.statement_max_file_bytes: expected at least 1 (every statement would be refused), found 0");
        }
        if self.statement_max_field_bytes == 0 {
            bail!("import.statement_max_field_bytes: expected at least 1 (every text field would be cut to nothing), found 0");
        }
        Ok(())
    }
}
