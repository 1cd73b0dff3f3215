//! The SDK [`FileImporter`] for bank statements (family `statement`) and the deliveries it hands the daemon.
//!
//! # Deliveries (what the raw inbox stores)
//! For one file, in order:
//! 1. **The file**: `Delivery { kind: "<format>", external_id: "file:<sha256 of the bytes>", raw: the whole file,
//!    records: [] }`. This is what rebuilds the ledger: re-running [`crate::parse_statement`] on it yields the
//!    same records with the same ids (parsing is deterministic and identities do not depend on import order or
//!    time). The same file imported twice has the same id and hash, so the inbox keeps it once.
//! 2. **One delivery per transaction**: `Delivery { kind: "<format>", external_id: <the record's id>, raw,
//!    records: [Payment] }`, `raw` being the exact bytes of that transaction in the file (camt `<Ntry>` element,
//!    MT940 `:61:` through its `:86:`, OFX `<STMTTRN>` aggregate, CSV record, the whole CEP). Because the raw is
//!    the entry's own bytes, the same transaction in two overlapping statements gives the same (external_id, sha256) pair and is
//!    stored once. A split camt batch gives several deliveries sharing the same `<Ntry>` bytes but distinct ids.
//!
//! Entry bytes alone lack context (account, currency, namespace), which is why the file delivery is kept too.
//!
//! Errors name the file, the line and the field. A file is all or nothing: one that cannot be read as its
//! format (not well-formed, truncated, larger than [`Limits::max_file_bytes`]), or whose every entry is bad,
//! fails as a whole and nothing of it is delivered; otherwise bad entries go to `bad` and the rest is delivered.
//!
//! # Limits and warnings
//! [`Limits`] cap the file size (a larger file is refused before it is read, so memory stays bounded) and the
//! length of each text field of a record (a longer one is **cut**, at a character boundary, with a
//! [`Warning`] naming file, line and field: the payment's money is real even when its remittance text is
//! absurd, so the entry is kept rather than refused; identities are computed on the whole text, so they do not
//! depend on the limit — except an `external_id` itself longer than the limit, which is cut and suffixed with a
//! hash of the whole). Warnings (those of [`crate::Parsed::warnings`] and the cut fields) reach the caller
//! through [`StatementImporter::read_bytes_reporting`]; [`FileImporter::read`] has no channel for them.

use crate::csv_statement::CsvMapping;
use crate::detect::{detect_format, Format};
use crate::model::{Warning, WarningKind};
use crate::{parse_statement, ParseOptions};
use cuadra_sdk::{
    sha256_hex, Delivery, FileImporter, FileWarning, ImportOptions, InputError, InvoiceRef,
    Location, PaymentRecord, Record,
};
use std::path::Path;

/// What one statement file may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest file read, in bytes (default 64 MiB).
    pub max_file_bytes: u64,
    /// Longest text field of a record, in bytes (default 4 KiB).
    pub max_field_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 64 * 1024 * 1024,
            max_field_bytes: 4 * 1024,
        }
    }
}

/// Reads bank statements for `cuadra import statement` and the inbox folder.
#[derive(Debug, Clone, Default)]
pub struct StatementImporter {
    /// The CSV mapping from configuration; `None` uses the presets' header detection.
    pub csv: Option<CsvMapping>,
    pub limits: Limits,
}

impl StatementImporter {
    pub fn new(csv: Option<CsvMapping>) -> Self {
        StatementImporter {
            csv,
            limits: Limits::default(),
        }
    }

    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Like [`FileImporter::read`] on bytes already in memory (`file_name` is used for errors and detection);
    /// warnings are dropped (see [`Self::read_bytes_reporting`]).
    pub fn read_bytes(
        &self,
        file_name: &str,
        bytes: &[u8],
        opts: &ImportOptions,
        out: &mut dyn FnMut(Delivery) -> Result<(), InputError>,
        bad: &mut dyn FnMut(InputError),
    ) -> Result<(), InputError> {
        self.read_bytes_reporting(file_name, bytes, opts, out, bad, &mut |_| {})
    }

    /// [`FileImporter::read`] that also hands over the file's warnings (entries that do not add up to a
    /// balance, a missing balance, cut fields), each with the file name in its location.
    pub fn read_reporting(
        &self,
        path: &Path,
        opts: &ImportOptions,
        out: &mut dyn FnMut(Delivery) -> Result<(), InputError>,
        bad: &mut dyn FnMut(InputError),
        warn: &mut dyn FnMut(Warning),
    ) -> Result<(), InputError> {
        let name = path.display().to_string();
        let bytes = read_capped(path, &name, self.limits.max_file_bytes)?;
        self.read_bytes_reporting(&name, &bytes, opts, out, bad, warn)
    }

    /// [`Self::read_bytes`] that also hands over the file's warnings.
    pub fn read_bytes_reporting(
        &self,
        file_name: &str,
        bytes: &[u8],
        opts: &ImportOptions,
        out: &mut dyn FnMut(Delivery) -> Result<(), InputError>,
        bad: &mut dyn FnMut(InputError),
        warn: &mut dyn FnMut(Warning),
    ) -> Result<(), InputError> {
        let with_file = |mut e: InputError| {
            e.location.file = Some(file_name.to_string());
            e
        };
        if bytes.len() as u64 > self.limits.max_file_bytes {
            return Err(too_big(
                file_name,
                bytes.len() as u64,
                self.limits.max_file_bytes,
            ));
        }
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
        let mut entries = parsed.entries;
        let mut warnings = parsed.warnings;
        for e in &mut entries {
            cap_fields(
                &mut e.record,
                e.line,
                self.limits.max_field_bytes,
                &mut warnings,
            );
        }
        for mut w in warnings {
            w.location.file = Some(file_name.to_string());
            warn(w);
        }
        out(Delivery {
            kind: kind.clone(),
            external_id: format!("file:{}", sha256_hex(bytes)),
            raw: bytes.to_vec(),
            records: Vec::new(),
        })?;
        for p in parsed.problems {
            bad(with_file(p));
        }
        for e in entries {
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
        StatementImporter::read_reporting(self, path, opts, out, bad, &mut |_| {})
    }

    fn read_reporting(
        &self,
        path: &Path,
        opts: &ImportOptions,
        out: &mut dyn FnMut(Delivery) -> Result<(), InputError>,
        bad: &mut dyn FnMut(InputError),
        warn: &mut dyn FnMut(FileWarning),
    ) -> Result<(), InputError> {
        StatementImporter::read_reporting(self, path, opts, out, bad, &mut |w: Warning| {
            warn(FileWarning {
                error: InputError::new(w.location.clone(), w.message.clone()),
                kind: w.kind.as_str(),
                for_person: w.is_conflict(),
            })
        })
    }
}

/// The file's bytes, refused without reading them when there are more than `max`.
pub(crate) fn read_capped(path: &Path, name: &str, max: u64) -> Result<Vec<u8>, InputError> {
    use std::io::Read;
    let cannot = |e: std::io::Error| {
        InputError::new(
            Location {
                file: Some(name.to_string()),
                ..Location::default()
            },
            format!("cannot read the file: {e}"),
        )
    };
    let f = std::fs::File::open(path).map_err(cannot)?;
    let len = f.metadata().map_err(cannot)?.len();
    if len > max {
        return Err(too_big(name, len, max));
    }
    // The file may grow while it is read: never more than the limit and one byte.
    let mut bytes = Vec::with_capacity(len as usize);
    f.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > max {
        return Err(too_big(name, bytes.len() as u64, max));
    }
    Ok(bytes)
}

fn too_big(name: &str, len: u64, max: u64) -> InputError {
    InputError::new(
        Location {
            file: Some(name.to_string()),
            ..Location::default()
        },
        format!(
            "the file has {len} bytes, more than the limit of {max} for one statement file; nothing of it was \
             imported (split it, or raise the limit)"
        ),
    )
}

/// Cuts every text field of `r` longer than `max` bytes, with a warning for each.
fn cap_fields(r: &mut PaymentRecord, line: u64, max: usize, warnings: &mut Vec<Warning>) {
    let mut cut = |name: &str, s: &mut String| {
        if s.len() <= max {
            return;
        }
        let len = s.len();
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        warnings.push(Warning::new(
            WarningKind::FieldTruncated,
            line,
            Some(name),
            format!("{name} has {len} bytes, more than the limit of {max}: only the first {end} were kept"),
        ));
    };
    if r.external_id.len() > max {
        let digest = sha256_hex(r.external_id.as_bytes());
        let keep = max.saturating_sub(34).max(1);
        cut("external_id", &mut r.external_id);
        let mut end = keep.min(r.external_id.len());
        while !r.external_id.is_char_boundary(end) {
            end -= 1;
        }
        r.external_id.truncate(end);
        r.external_id.push('~');
        r.external_id.push_str(&digest[..32]);
    }
    for (name, f) in [
        ("own_account", &mut r.own_account),
        ("bank_reference", &mut r.bank_reference),
        ("clave_rastreo", &mut r.clave_rastreo),
        ("payer_name", &mut r.payer_name),
        ("payer_rfc", &mut r.payer_rfc),
        ("payer_account", &mut r.payer_account),
        ("referencia_numerica", &mut r.referencia_numerica),
        ("concepto", &mut r.concepto),
        ("document_id", &mut r.document_id),
        ("operation_number", &mut r.operation_number),
        ("customer_hint", &mut r.customer_hint),
        ("status", &mut r.status),
    ] {
        if let Some(s) = f.as_mut() {
            cut(name, s);
        }
    }
    for l in &mut r.remittance {
        match &mut l.invoice {
            InvoiceRef::SerieFolio { serie, folio } => {
                if let Some(s) = serie.as_mut() {
                    cut("remittance serie", s);
                }
                cut("remittance folio", folio);
            }
            InvoiceRef::ErpId(s) => cut("remittance erp id", s),
            InvoiceRef::Uuid(_) => {}
        }
    }
}
