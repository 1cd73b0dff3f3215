//! Building SDK deliveries: one per CFDI (`kind = "cfdi"`, `external_id` = lower-case UUID, or the SHA-256 of the
//! bytes when unstamped) and one per metadata row (`kind = "sat-metadata"`, `external_id` = lower-case UUID; the
//! raw inbox keys on (external_id, sha256), so a later row with a new status is a new delivery).

use crate::error::ParseError;
use crate::metadata::MetadataRow;
use crate::normalize::normalize;
use crate::parser::{parse_with, ParseOptions};
use cuadra_sdk::{sha256_hex, Delivery, Record, Rfc};

/// Parses and normalizes one CFDI, keeping its exact bytes.
pub fn cfdi_delivery(
    raw: Vec<u8>,
    company_rfcs: &[Rfc],
    opts: &ParseOptions,
) -> Result<Delivery, ParseError> {
    let (external_id, records) = {
        let cfdi = parse_with(&raw, opts)?;
        let id = match &cfdi.uuid {
            Some(u) => u.to_string(),
            None => sha256_hex(&raw),
        };
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
