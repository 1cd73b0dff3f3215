//! SAT metadata files (`Uuid~RfcEmisor~…`, sat.md §9.2), read as a stream: CRLF files whose names contain bare
//! LFs are rejoined (the phpcfdi rule: when the header ends in CRLF, records end at CRLF and inner LFs are
//! dropped), LF files are read line by line, columns are looked up by header name, blank lines are skipped.
//! Third-party files (`Uuid~RfcACuentaTerceros~…`) are recognised and their rows handed back separately.

use crate::normalize::mexico_to_utc;
use crate::values::fecha;
use cuadra_sdk::{parse_decimal, CfdiState, CfdiStatusRecord, CfdiUuid, Rfc};
use std::io::BufRead;

/// Longest record accepted (a real row is a few hundred bytes).
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

/// One metadata row: the CFDI status it states, its first physical line and its exact bytes (without the
/// record terminator; inner LFs kept).
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataRow {
    pub line: u64,
    pub raw: Vec<u8>,
    pub record: CfdiStatusRecord,
}

/// One row of a `_tercero` file: the CFDI was issued on behalf of a third party.
#[derive(Debug, Clone, PartialEq)]
pub struct ThirdPartyRow {
    pub line: u64,
    pub uuid: CfdiUuid,
    pub rfc: String,
    pub nombre: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MetadataItem {
    Status(MetadataRow),
    ThirdParty(ThirdPartyRow),
}

/// A row that was skipped, with its line, the column of the bad field and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    pub line: u64,
    pub column: u64,
    pub field: Option<String>,
    pub message: String,
}

/// Why a whole file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("not a SAT metadata file: the first line must be a header starting with `Uuid~RfcEmisor~` or `Uuid~RfcACuentaTerceros~`")]
    NotMetadata,
    #[error("reading metadata: {0}")]
    Io(#[from] std::io::Error),
    /// The `item` callback refused a row; reading stopped.
    #[error("{0}")]
    Stopped(String),
}

/// Whether `head` (the first bytes of a file) looks like a SAT metadata file.
pub fn looks_like_metadata(head: &[u8]) -> bool {
    let h = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    h.len() >= 5 && h[..5].eq_ignore_ascii_case(b"uuid~")
}

/// Reads `len` bytes up to and including `\n` into `buf` (at most `cap`; the rest of a longer line is
/// discarded and `Ok(Some(true))` says so). `Ok(None)` at end of input.
fn read_line_capped<R: BufRead>(
    r: &mut R,
    buf: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<Option<bool>> {
    let mut read_any = false;
    let mut truncated = false;
    loop {
        let avail = r.fill_buf()?;
        if avail.is_empty() {
            return Ok(read_any.then_some(truncated));
        }
        read_any = true;
        let (chunk, done) = match memchr_nl(avail) {
            Some(i) => (&avail[..=i], true),
            None => (avail, false),
        };
        let n = chunk.len();
        let room = cap.saturating_sub(buf.len());
        if room >= n {
            buf.extend_from_slice(chunk);
        } else {
            buf.extend_from_slice(&chunk[..room]);
            truncated = true;
        }
        r.consume(n);
        if done {
            return Ok(Some(truncated));
        }
    }
}

fn memchr_nl(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

fn strip_terminator(b: &mut Vec<u8>) {
    if b.last() == Some(&b'\n') {
        b.pop();
    }
    if b.last() == Some(&b'\r') {
        b.pop();
    }
}

/// Reads a metadata file. Each good row goes to `item`; each skipped row (empty or invalid UUID, bad status,
/// bad date or amount, over-long) goes to `problem`. Returns the number of rows handed to `item`.
pub fn read_metadata<R: BufRead>(
    mut r: R,
    item: &mut dyn FnMut(MetadataItem) -> Result<(), String>,
    problem: &mut dyn FnMut(RowProblem),
) -> Result<u64, MetadataError> {
    let mut buf = Vec::with_capacity(512);
    if read_line_capped(&mut r, &mut buf, MAX_RECORD_BYTES)?.is_none() {
        return Err(MetadataError::NotMetadata);
    }
    let crlf = buf.ends_with(b"\r\n");
    strip_terminator(&mut buf);
    let header_bytes = buf.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&buf);
    let header: Vec<String> = String::from_utf8_lossy(header_bytes)
        .split('~')
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    let col = |name: &str| header.iter().position(|h| h == name);
    if col("uuid") != Some(0) {
        return Err(MetadataError::NotMetadata);
    }
    let third_party = col("rfcemisor").is_none();
    if third_party && col("rfcacuentaterceros").is_none() {
        return Err(MetadataError::NotMetadata);
    }
    let cols = Columns {
        uuid: 0,
        rfc_emisor: col("rfcemisor"),
        rfc_receptor: col("rfcreceptor"),
        monto: col("monto"),
        efecto: col("efectocomprobante"),
        estatus: col("estatus"),
        fecha_cancelacion: col("fechacancelacion"),
        rfc_terceros: col("rfcacuentaterceros"),
        nombre_terceros: col("nombreacuentaterceros"),
    };
    let mut physical = 1u64;
    let mut count = 0u64;
    let mut piece = Vec::with_capacity(512);
    loop {
        let first_line = physical + 1;
        let mut record = Vec::with_capacity(512);
        let mut truncated = false;
        let mut got_any = false;
        let mut at_eof = false;
        loop {
            piece.clear();
            let Some(t) = read_line_capped(&mut r, &mut piece, MAX_RECORD_BYTES)? else {
                at_eof = true;
                break;
            };
            physical += 1;
            got_any = true;
            truncated |= t;
            // In a CRLF file a bare LF belongs to a field (a name with a line break): keep reading.
            let inner = crlf && piece.ends_with(b"\n") && !piece.ends_with(b"\r\n");
            if !inner {
                strip_terminator(&mut piece);
            }
            if record.len() + piece.len() > MAX_RECORD_BYTES {
                truncated = true;
            } else {
                record.extend_from_slice(&piece);
            }
            if !inner {
                break;
            }
        }
        if !got_any {
            return Ok(count);
        }
        if record.iter().all(|b| b.is_ascii_whitespace()) {
            if at_eof {
                return Ok(count);
            }
            continue;
        }
        if truncated {
            problem(RowProblem {
                line: first_line,
                column: 1,
                field: None,
                message: format!("record longer than {MAX_RECORD_BYTES} bytes; skipped"),
            });
            continue;
        }
        match row(&cols, third_party, first_line, record) {
            Ok(it) => {
                item(it).map_err(MetadataError::Stopped)?;
                count += 1;
            }
            Err(p) => problem(p),
        }
        if at_eof {
            return Ok(count);
        }
    }
}

struct Columns {
    uuid: usize,
    rfc_emisor: Option<usize>,
    rfc_receptor: Option<usize>,
    monto: Option<usize>,
    efecto: Option<usize>,
    estatus: Option<usize>,
    fecha_cancelacion: Option<usize>,
    rfc_terceros: Option<usize>,
    nombre_terceros: Option<usize>,
}

fn row(
    cols: &Columns,
    third_party: bool,
    line: u64,
    raw: Vec<u8>,
) -> Result<MetadataItem, RowProblem> {
    // Inner LFs are deleted for parsing (phpcfdi: "Receptor\nSA" → "ReceptorSA"); `raw` keeps them.
    let text: String = String::from_utf8_lossy(&raw).replace('\n', "");
    let fields: Vec<&str> = text.split('~').collect();
    let get = |i: Option<usize>| i.and_then(|i| fields.get(i)).map_or("", |s| s.trim());
    let column_of = |i: usize| -> u64 {
        1 + fields
            .iter()
            .take(i)
            .map(|f| f.chars().count() as u64 + 1)
            .sum::<u64>()
    };
    let bad = |i: usize, field: &str, message: String| RowProblem {
        line,
        column: column_of(i),
        field: Some(field.to_string()),
        message,
    };
    let uuid_text = get(Some(cols.uuid));
    if uuid_text.is_empty() {
        return Err(bad(
            cols.uuid,
            "Uuid",
            "empty Uuid; row skipped".to_string(),
        ));
    }
    let uuid = CfdiUuid::parse(uuid_text).map_err(|_| {
        bad(
            cols.uuid,
            "Uuid",
            format!("{uuid_text:?} is not a UUID; row skipped"),
        )
    })?;
    if third_party {
        return Ok(MetadataItem::ThirdParty(ThirdPartyRow {
            line,
            uuid,
            rfc: get(cols.rfc_terceros).to_string(),
            nombre: get(cols.nombre_terceros).to_string(),
        }));
    }
    let estatus = get(cols.estatus);
    let state = match estatus {
        "1" => CfdiState::Vigente,
        "0" => CfdiState::Cancelado,
        other => {
            return Err(bad(
                cols.estatus.unwrap_or(0),
                "Estatus",
                format!("{other:?} is not 1 (vigente) or 0 (cancelado); row skipped"),
            ))
        }
    };
    let fc = get(cols.fecha_cancelacion);
    let cancelled_at = if fc.is_empty() {
        None
    } else {
        let t = fecha(fc).ok_or_else(|| {
            bad(
                cols.fecha_cancelacion.unwrap_or(0),
                "FechaCancelacion",
                format!("{fc:?} is not a date-time YYYY-MM-DD hh:mm:ss; row skipped"),
            )
        })?;
        Some(mexico_to_utc(t))
    };
    let monto = get(cols.monto);
    let total = if monto.is_empty() {
        None
    } else {
        Some(parse_decimal(monto).map_err(|_| {
            bad(
                cols.monto.unwrap_or(0),
                "Monto",
                format!("{monto:?} is not a decimal amount; row skipped"),
            )
        })?)
    };
    let efecto = get(cols.efecto);
    Ok(MetadataItem::Status(MetadataRow {
        line,
        record: CfdiStatusRecord {
            uuid,
            state,
            cancelled_at,
            issuer_rfc: Rfc::parse(get(cols.rfc_emisor)).ok(),
            receiver_rfc: Rfc::parse(get(cols.rfc_receptor)).ok(),
            tipo: (!efecto.is_empty()).then(|| efecto.to_string()),
            total,
        },
        raw,
    }))
}
