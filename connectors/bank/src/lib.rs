//! Bank statement importers for Cuadra: ISO 20022 camt.052/053/054, SWIFT MT940/MT942, OFX 1.x/2.x, CSV
//! (configurable column mapping plus presets) and Banxico CEP XML, all turned into SDK [`PaymentRecord`]s
//! (`kind` Bank, or Spei for a CEP; credits positive, debits negative).
//!
//! Entry points: [`parse_statement`] (bytes → [`Parsed`]), [`detect_format`] for `--format auto`, and
//! [`StatementImporter`], the SDK [`cuadra_sdk::FileImporter`] of family `statement`. Identities are described
//! in [`identity`], the delivery layout (what goes into the raw inbox) in [`importer`].
//!
//! # Layout
//! - [`detect`]: [`Format`] and [`detect_format`].
//! - [`camt`]: streaming camt reader (`camt/entry.rs`: one `Ntry` and its `TxDtls` split).
//! - [`mt940`]: MT940 tokenizer and `:61:` grammar (`mt940/details.rs`: `:86:` sub-structures).
//! - [`ofx`]: tolerant OFX SGML/XML reader.
//! - [`csv_statement`]: [`CsvMapping`] and the CSV reader; [`presets`]: named mappings and header sniffing.
//! - [`cep`]: Banxico CEP.
//! - [`identity`]: stable `external_id`s and record building; [`mx`]: CLABE/RFC/clave de rastreo in free text.
//! - [`importer`]: the `FileImporter` and the deliveries; `fuzzing` (feature `fuzzing`): entry points for the fuzz targets.
//! - [`statements`]: `StatementsKind` (`kind = "statements"`), a folder of statements read on a schedule.
//! - [`returns`]: which entries return or reverse an earlier one (status `reversal`).
//! - [`model`], [`text`]: shared types and helpers.

// The SDK's `InputError` (the FileImporter contract) is larger than clippy likes in a `Result`.
#![allow(clippy::result_large_err)]

pub mod camt;
pub mod cep;
pub mod csv_statement;
pub mod detect;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod identity;
pub mod importer;
pub mod model;
pub mod mt940;
pub mod mx;
pub mod ofx;
pub mod presets;
pub mod returns;
pub mod statements;
pub mod text;

pub use csv_statement::{Column, CsvMapping};
pub use detect::{detect_format, Format};
pub use importer::StatementImporter;
pub use model::{Entry, Parsed};
pub use statements::StatementsKind;

use cuadra_sdk::{InputError, PaymentKind, PaymentRecord};

/// Options for [`parse_statement`].
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// Overrides the own account of every record (the configured account name or number).
    pub account: Option<String>,
    /// Column mapping for CSV; `None` picks a preset from the header ([`presets::detect`]).
    pub csv: Option<CsvMapping>,
}

/// Parses a whole statement file. A file that cannot be read as `format` at all is an `Err`; a bad single
/// entry is reported in [`Parsed::problems`] (and skipped) while the rest is returned.
pub fn parse_statement(
    format: Format,
    bytes: &[u8],
    opts: &ParseOptions,
) -> Result<Parsed, InputError> {
    let account = opts.account.as_deref();
    if format == Format::Mt940 {
        // Records are built as each statement ends, without collecting the transactions first.
        let mut finisher = identity::Finisher::new(0, account, PaymentKind::Bank);
        let problems = mt940::parse_into(bytes, &mut finisher)?;
        return Ok(finisher.finish(problems));
    }
    let (txns, problems, kind) = match format {
        Format::Camt052 | Format::Camt053 | Format::Camt054 => {
            let (t, p, _) = camt::parse(bytes)?;
            (t, p, PaymentKind::Bank)
        }
        Format::Mt940 => {
            let (t, p) = mt940::parse(bytes)?;
            (t, p, PaymentKind::Bank)
        }
        Format::Ofx => {
            let (t, p) = ofx::parse(bytes)?;
            (t, p, PaymentKind::Bank)
        }
        Format::Csv => {
            let mapping = match &opts.csv {
                Some(m) => m.clone(),
                None => csv_mapping_for(bytes)?,
            };
            let (t, p) = csv_statement::parse(bytes, &mapping)?;
            (t, p, PaymentKind::Bank)
        }
        Format::Cep => (cep::parse(bytes)?, Vec::new(), PaymentKind::Spei),
    };
    Ok(identity::finish(txns, account, kind, problems))
}

/// The preset whose columns appear in one of the first 30 rows of a CSV file.
pub fn csv_mapping_for(bytes: &[u8]) -> Result<CsvMapping, InputError> {
    let bytes = text::strip_bom(bytes);
    let utf8 = std::str::from_utf8(bytes).is_ok();
    let delim = [b',', b';', b'\t', b'|'];
    for d in delim {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(d)
            .from_reader(bytes);
        for rec in rdr.byte_records().take(30).flatten() {
            let cells: Vec<String> = rec.iter().map(|c| text::decode_with(c, utf8)).collect();
            if let Some(name) = presets::detect(&cells) {
                if let Some(mut m) = presets::preset(name) {
                    m.delimiter = Some(d as char);
                    return Ok(m);
                }
            }
        }
    }
    Err(model::err_at(
        1,
        Some("header"),
        format!(
            "no CSV column mapping given and no preset recognises the header; configure a mapping or use one of: {}",
            presets::PRESETS.join(", ")
        ),
    ))
}

/// Convenience for callers holding records only.
pub fn records(parsed: &Parsed) -> impl Iterator<Item = &PaymentRecord> {
    parsed.entries.iter().map(|e| &e.record)
}
