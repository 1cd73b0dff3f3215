//! CFDI connector for Cuadra: a streaming CFDI 3.3/4.0 parser, normalization of parsed CFDI into receivable
//! records, and readers for what the SAT download service returns (CFDI packages, metadata files).
//!
//! # Layout
//! - [`parser`]: `parse`/`parse_with` (quick-xml events, namespace-aware, no DOM) → [`Cfdi`].
//! - [`model`]: the parsed document (`Cfdi`, `Pago`, `DoctoRelacionado`, `Relation`).
//! - `comprobante`, `pagos`, `values`: attribute readers for the root, the payment complements, and values.
//! - [`normalize`]: `normalize(&Cfdi, company_rfcs)` → SDK records (invoice, credit, REP payments, seen).
//! - [`metadata`]: SAT metadata `~` files (streamed) → `CfdiStatusRecord` rows.
//! - [`package`]: SAT `.zip` packages entry by entry with size/ratio caps; [`deliver`] builds deliveries.
//! - [`importer`]: [`CfdiImporter`], the SDK `FileImporter` for `.xml`, `.zip`, `.txt` and folders.
//! - `fuzz` (feature `fuzzing`): entry points for the fuzz targets (never panic on any input).
//! - [`error`]: [`ParseError`] with line/column and a reason.

// `InputError` is the SDK's error type for importers (the `FileImporter` trait returns it); it is large but
// returned once per bad file or entry, never on a hot path.
#![allow(clippy::result_large_err)]

pub mod deliver;
pub mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
pub mod importer;
pub mod metadata;
pub mod model;
pub mod normalize;
pub mod package;
pub mod parser;

mod comprobante;
mod pagos;
mod values;

pub use deliver::{cfdi_delivery, cfdi_delivery_reporting, metadata_delivery};
pub use error::{ErrorKind, ParseError};
pub use importer::CfdiImporter;
pub use metadata::{read_metadata, MetadataItem, MetadataRow, RowProblem, ThirdPartyRow};
pub use model::*;
pub use normalize::{mexico_to_utc, normalize};
pub use package::{read_package, read_package_bytes, read_package_reporting, Limits};
pub use parser::{parse, parse_with, ParseOptions, DEFAULT_MAX_DOCUMENT_BYTES};
pub use values::fecha as parse_fecha;
