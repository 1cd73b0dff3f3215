//! Building SDK deliveries: one per CFDI (`kind = "cfdi"`, `external_id` = lower-case UUID, or the SHA-256 of the
//! bytes when unstamped) and one per metadata row (`kind = "sat-metadata"`, `external_id` = lower-case UUID; the
//! raw inbox keys on (external_id, sha256), so a later row with a new status is a new delivery).

use crate::error::{ErrorKind, ParseError};
use crate::metadata::MetadataRow;
use crate::normalize::{docto_warnings, normalize};
use crate::parser::{parse_with, ParseOptions};
use cuadra_sdk::{sha256_hex, Delivery, Record, Rfc};

/// Parses and normalizes one CFDI, keeping its exact bytes.
pub fn cfdi_delivery(
    raw: Vec<u8>,
    company_rfcs: &[Rfc],
    opts: &ParseOptions,
) -> Result<Delivery, ParseError> {
    cfdi_delivery_reporting(raw, company_rfcs, opts, &mut |_| {})
}

/// [`cfdi_delivery`] that also hands over what a person should know about a document that imports (REP lines
/// that name no invoice, see [`crate::normalize::docto_warnings`]), each with its line, column and field.
pub fn cfdi_delivery_reporting(
    raw: Vec<u8>,
    company_rfcs: &[Rfc],
    opts: &ParseOptions,
    warn: &mut dyn FnMut(ParseError),
) -> Result<Delivery, ParseError> {
    let (external_id, records) = {
        let cfdi = parse_with(&raw, opts)?;
        let id = match &cfdi.uuid {
            Some(u) => u.to_string(),
            None => sha256_hex(&raw),
        };
        for (offset, field, message) in docto_warnings(&cfdi, company_rfcs) {
            warn(ParseError::at(&raw, offset, ErrorKind::Invalid, message).with_field(field));
        }
        (id, normalize(&cfdi, company_rfcs))
    };
    Ok(Delivery {
        kind: "cfdi".to_string(),
        external_id,
        raw,
        records,
    })
}

/// One metadata row as a delivery carrying one `CfdiStatus` record.
pub fn metadata_delivery(row: MetadataRow) -> Delivery {
    Delivery {
        kind: "sat-metadata".to_string(),
        external_id: row.record.uuid.to_string(),
        raw: row.raw,
        records: vec![Record::CfdiStatus(row.record)],
    }
}
