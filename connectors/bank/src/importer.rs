//! The SDK [`FileImporter`] for bank statements (family `statement`) and the deliveries it hands the daemon.
//!
//! # Deliveries (what the raw inbox stores)
//! For one file, in order:
//! 1. **The file**: `Delivery { kind: "<format>", external_id: "file:<sha256 of the bytes>", raw: the whole file,
//!    records: [] }`. This is what rebuilds the ledger: re-running [`crate::parse_statement`] on it yields the
//!    same records with the same ids (parsing is deterministic and identities do not depend on import order or
//!    time). The same file imported twice has the same id and hash, so the inbox keeps it once.
//! 2. **One delivery per transaction**: `Delivery { kind: "<format>", external_id: <the record's id>, raw: the
//!    exact bytes of that transaction in the file (camt `<Ntry>` element, MT940 `:61:` through its `:86:`, OFX
//!    `<STMTTRN>` aggregate, CSV record, the whole CEP), records: [Payment] }`. Because the raw is the entry's own
//!    bytes, the same transaction in two overlapping statements gives the same (external_id, sha256) pair and is
//!    stored once. A split camt batch gives several deliveries sharing the same `<Ntry>` bytes but distinct ids.
//!
//! Entry bytes alone lack context (account, currency, namespace), which is why the file delivery is kept too.
//!
//! Errors name the file, the line and the field. A file that cannot be read as its format, or whose every
//! entry is bad, fails as a whole (nothing is delivered); otherwise bad entries go to `bad` and the rest is
//! delivered.

use crate::csv_statement::CsvMapping;
use crate::detect::{detect_format, Format};
use crate::{parse_statement, ParseOptions};
use cuadra_sdk::{sha256_hex, Delivery, FileImporter, ImportOptions, InputError, Location, Record};
use std::path::Path;

/// Reads bank statements for `cuadra import statement` and the inbox folder.
#[derive(Debug, Clone, Default)]
pub struct StatementImporter {
    /// The CSV mapping from configuration; `None` uses the presets' header detection.
    pub csv: Option<CsvMapping>,
}

impl StatementImporter {
    pub fn new(csv: Option<CsvMapping>) -> Self {
        StatementImporter { csv }
    }

    /// Like [`FileImporter::read`] on bytes already in memory (`file_name` is used for errors and detection).
    pub fn read_bytes(
        &self,
        file_name: &str,
        bytes: &[u8],
        opts: &ImportOptions,
        out: &mut dyn FnMut(Delivery) -> Result<(), InputError>,
        bad: &mut dyn FnMut(InputError),
    ) -> Result<(), InputError> {
        let with_file = |mut e: InputError| {
            e.location.file = Some(file_name.to_string());
            e
        };
        let mut csv = self.csv.clone();
        let requested = opts
            .format
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.eq_ignore_ascii_case("auto"));
        let format = match requested {
            Some(f) => {
                // `csv:<preset>` names a preset explicitly.
                if let Some(p) = f.strip_prefix("csv:") {
                    csv = Some(crate::presets::preset(p).ok_or_else(|| {
                        with_file(InputError::new(
                            Location::default(),
                            format!("unknown CSV preset {p:?}; expected one of {}", crate::presets::PRESETS.join(", ")),
                        ))
                    })?);
                    Format::Csv
                } else {
                    Format::parse(f).ok_or_else(|| {
                        with_file(InputError::new(
                            Location::default(),
                            format!("unknown statement format {f:?}; expected auto, camt052, camt053, camt054, mt940, ofx, csv or cep"),
                        ))
                    })?
                }
            }
            None => detect_format(file_name, &bytes[..bytes.len().min(8192)]).ok_or_else(|| {
                with_file(InputError::new(
                    Location::default(),
                    "could not tell the statement format; expected camt.05x XML, MT940, OFX, CSV or a CEP \
                     (give --format)",
                ))
            })?,
        };
        let parsed = parse_statement(
            format,
            bytes,
            &ParseOptions {
                account: opts.account.clone(),
                csv,
            },
        )
        .map_err(with_file)?;
        if parsed.entries.is_empty() {
            if let Some(first) = parsed.problems.first() {
                let n = parsed.problems.len();
                let mut e = with_file(first.clone());
                if n > 1 {
                    e.message = format!(
                        "{} (and {} more bad entries; no entry could be read)",
                        e.message,
                        n - 1
                    );
                }
                return Err(e);
            }
        }
        let kind = format.as_str().to_string();
        out(Delivery {
            kind: kind.clone(),
            external_id: format!("file:{}", sha256_hex(bytes)),
            raw: bytes.to_vec(),
            records: Vec::new(),
        })?;
        for p in parsed.problems {
            bad(with_file(p));
        }
        for e in parsed.entries {
            let raw = bytes.get(e.span.clone()).unwrap_or(&[]).to_vec();
            out(Delivery {
                kind: kind.clone(),
                external_id: e.record.external_id.clone(),
                raw,
                records: vec![Record::Payment(e.record)],
            })?;
        }
        Ok(())
    }
}

impl FileImporter for StatementImporter {
    fn family(&self) -> &'static str {
        "statement"
    }

    fn read_bytes(
        &self,
        name: &str,
        bytes: &[u8],
        opts: &ImportOptions,
        out: &mut dyn FnMut(Delivery) -> Result<(), InputError>,
        bad: &mut dyn FnMut(InputError),
    ) -> Result<(), InputError> {
        StatementImporter::read_bytes(self, name, bytes, opts, out, bad)
    }

    fn sniff(&self, file_name: &str, head: &[u8]) -> bool {
        detect_format(file_name, head).is_some()
    }

    fn read(
        &self,
        path: &Path,
        opts: &ImportOptions,
        out: &mut dyn FnMut(Delivery) -> Result<(), InputError>,
        bad: &mut dyn FnMut(InputError),
    ) -> Result<(), InputError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| {
            InputError::new(
                Location {
                    file: Some(name.clone()),
                    ..Location::default()
                },
                format!("cannot read the file: {e}"),
            )
        })?;
        self.read_bytes(&name, &bytes, opts, out, bad)
    }
}
