//! CSV statements with a configurable column mapping ([`CsvMapping`]) and named presets ([`crate::presets`]).
//!
//! The file is read as bytes (so each payment's raw bytes are exactly its record) and each cell decoded as UTF-8,
//! or Latin-1 when the file is not valid UTF-8. The header row is the first row that contains the mapping's date
//! column (metadata rows above it are skipped); columns are matched by name ignoring case, accents and spaces,
//! or by 0-based index. The sign comes from one signed `amount` column (optionally with a debit/credit indicator
//! column, or inverted), or from a `debit`/`credit` column pair (amount = |credit| − |debit|, as Mexican
//! `CARGO`/`ABONO` exports). Rows whose date cell has no digit (totals, "Saldo inicial") are skipped silently; a
//! row with a bad date or amount is reported with its line and column and skipped.
//!
//! Refused rows (reported with line and field, the rest of the file imports): a row with more non-empty fields
//! than the header (an unquoted `1,234.50` splits into `1` and `234.50`: taking `1` would store 1.00), and an
//! amount with a thousands separator (`,` with a decimal point, `.` with a decimal comma) when the mapping does
//! not declare one in [`CsvMapping::thousands_separator`] (the presets for exports that write them do), or
//! whose digit groups are not of three. Spaces, `'`, `$` and `€` inside amounts stay accepted.

use crate::model::{err_at, LineCounter, Txn, UniqueRef};
use crate::text::{clean, clean_ref, decode_with, parse_amount, DecimalSep};
use chrono::{NaiveDate, NaiveDateTime};
use cuadra_sdk::{Currency, InputError, Money};
use serde::{Deserialize, Serialize};

/// A column by header name or by 0-based index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Column {
    Index(usize),
    Name(String),
}

impl Column {
    pub fn name(s: &str) -> Self {
        Column::Name(s.to_string())
    }
}

/// How a CSV export maps onto a payment. Every field but `date` is optional; give either `amount` or the
/// `debit`/`credit` pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CsvMapping {
    /// Field delimiter; `None` guesses among `,`, `;`, tab and `|` from the first lines.
    pub delimiter: Option<char>,
    pub date: Column,
    /// chrono formats tried in order, e.g. `["%d/%m/%Y"]`; a format with a time reads the date part.
    pub date_formats: Vec<String>,
    pub value_date: Option<Column>,
    pub amount: Option<Column>,
    /// A column saying `D`/`C` (values in `debit_values` are debits) for unsigned amounts.
    pub debit_credit: Option<Column>,
    pub debit_values: Vec<String>,
    pub debit: Option<Column>,
    pub credit: Option<Column>,
    /// Negates amounts (credit-card exports where purchases are positive).
    pub invert_sign: bool,
    pub decimal_comma: bool,
    /// The thousands separator the export writes inside amounts (`,` with a decimal point, `.` with a decimal
    /// comma); `None` refuses amounts that contain one.
    pub thousands_separator: Option<char>,
    pub currency: Option<Column>,
    pub default_currency: String,
    /// The provider's unique transaction id (becomes the identity, see [`crate::identity`]).
    pub id: Option<Column>,
    pub bank_reference: Option<Column>,
    pub references: Vec<Column>,
    pub clave_rastreo: Option<Column>,
    pub referencia_numerica: Option<Column>,
    pub payer_name: Option<Column>,
    pub payer_rfc: Option<Column>,
    pub payer_account: Option<Column>,
    /// Joined with spaces into `concepto`.
    pub concepto: Vec<Column>,
    /// The own account, when the export has a column for it.
    pub account: Option<Column>,
    pub status: Option<Column>,
}

impl Default for CsvMapping {
    fn default() -> Self {
        CsvMapping {
            delimiter: None,
            date: Column::name("date"),
            date_formats: vec!["%Y-%m-%d".into(), "%d/%m/%Y".into()],
            value_date: None,
            amount: Some(Column::name("amount")),
            debit_credit: None,
            debit_values: vec![
                "D".into(),
                "DR".into(),
                "DBIT".into(),
                "DEBIT".into(),
                "CARGO".into(),
            ],
            debit: None,
            credit: None,
            invert_sign: false,
            decimal_comma: false,
            thousands_separator: None,
            currency: None,
            default_currency: "MXN".into(),
            id: None,
            bank_reference: None,
            references: Vec::new(),
            clave_rastreo: None,
            referencia_numerica: None,
            payer_name: None,
            payer_rfc: None,
            payer_account: None,
            concepto: Vec::new(),
            account: None,
            status: None,
        }
    }
}

/// Header cell normalization: lower-case, accents folded, spaces and punctuation removed.
pub fn norm_header(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            let c = match c {
                'á' | 'Á' => 'a',
                'é' | 'É' => 'e',
                'í' | 'Í' => 'i',
                'ó' | 'Ó' => 'o',
                'ú' | 'Ú' | 'ü' | 'Ü' => 'u',
                'ñ' | 'Ñ' => 'n',
                c => c,
            };
            c.is_alphanumeric().then(|| c.to_ascii_lowercase())
        })
        .collect()
}

fn sniff_delimiter(bytes: &[u8]) -> u8 {
    let head = &bytes[..bytes.len().min(4096)];
    [b',', b';', b'\t', b'|']
        .into_iter()
        .max_by_key(|d| head.iter().filter(|b| *b == d).count())
        .unwrap_or(b',')
}

/// Column positions resolved against the header.
struct Resolved<'m> {
    map: &'m CsvMapping,
    header: Vec<String>,
}

impl Resolved<'_> {
    fn idx(&self, c: &Column) -> Option<usize> {
        match c {
            Column::Index(i) => Some(*i),
            Column::Name(n) => {
                let want = norm_header(n);
                self.header.iter().position(|h| *h == want)
            }
        }
    }
}

/// Parses a CSV statement with `map`.
pub fn parse(bytes: &[u8], map: &CsvMapping) -> Result<(Vec<Txn>, Vec<InputError>), InputError> {
    let bytes = crate::text::strip_bom(bytes);
    let utf8 = std::str::from_utf8(bytes).is_ok();
    let delim = map
        .delimiter
        .map_or_else(|| sniff_delimiter(bytes), |c| c as u8);
    let default_ccy = Currency::parse(&map.default_currency)
        .map_err(|e| err_at(0, Some("csv.default_currency"), e.to_string()))?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delim)
        .from_reader(bytes);
    let mut rec = csv::ByteRecord::new();
    let mut resolved: Option<Resolved<'_>> = None;
    let mut txns = Vec::new();
    let mut problems = Vec::new();
    let mut lines = LineCounter::new();
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                return Err(err_at(line, None, format!("not a readable CSV file: {e}")));
            }
        }
        // With CRLF the reader's record position can sit on the previous line's `\n`.
        let mut start = rec.position().map_or(0, |p| p.byte() as usize);
        while matches!(bytes.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        let line = lines.line_at(bytes, start);
        let end = rdr.position().byte() as usize;
        let cells: Vec<String> = rec.iter().map(|c| decode_with(c, utf8)).collect();
        let Some(res) = resolved.as_ref() else {
            let header: Vec<String> = cells.iter().map(|c| norm_header(c)).collect();
            let r = Resolved { map, header };
            if r.idx(&map.date).is_some() && matches!(map.date, Column::Name(_)) {
                resolved = Some(r);
            } else if matches!(map.date, Column::Index(_)) {
                // Index-only mappings have no header row to find: this row is data.
                resolved = Some(r);
                if let Some(r) = resolved.as_ref() {
                    row(
                        r,
                        &cells,
                        start,
                        end,
                        bytes,
                        line,
                        default_ccy,
                        &mut txns,
                        &mut problems,
                    );
                }
            }
            continue;
        };
        row(
            res,
            &cells,
            start,
            end,
            bytes,
            line,
            default_ccy,
            &mut txns,
            &mut problems,
        );
    }
    if resolved.is_none() {
        return Err(err_at(
            1,
            Some("header"),
            format!(
                "expected a header row with the date column {:?}, found none",
                map.date
            ),
        ));
    }
    Ok((txns, problems))
}

#[allow(clippy::too_many_arguments)]
fn row(
    r: &Resolved<'_>,
    cells: &[String],
    start: usize,
    end: usize,
    bytes: &[u8],
    line: u64,
    default_ccy: Currency,
    txns: &mut Vec<Txn>,
    problems: &mut Vec<InputError>,
) {
    let map = r.map;
    let cell = |c: &Column| {
        r.idx(c)
            .and_then(|i| cells.get(i))
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    };
    let col_name = |c: &Column| match c {
        Column::Index(i) => format!("column {i}"),
        Column::Name(n) => n.clone(),
    };
    if cells.iter().all(|c| c.trim().is_empty()) {
        return;
    }
    let Some(date_raw) = cell(&map.date).filter(|d| d.bytes().any(|b| b.is_ascii_digit())) else {
        return;
    };
    let width = r.header.len();
    if matches!(map.date, Column::Name(_))
        && cells.len() > width
        && cells[width..].iter().any(|c| !c.trim().is_empty())
    {
        problems.push(err_at(
            line,
            Some(&format!("field {} (the header has {width})", width + 1)),
            format!(
                "expected at most {width} fields as in the header, found {}: a value with an unquoted \
                 delimiter (such as 1,234.50 in an amount) splits into two fields; quote it",
                cells.len()
            ),
        ));
        return;
    }
    let date_field = col_name(&map.date);
    let Some(booked) = parse_date(date_raw, &map.date_formats) else {
        problems.push(err_at(
            line,
            Some(&date_field),
            format!(
                "expected a date in format {}, found {date_raw:?}",
                map.date_formats.join(" or ")
            ),
        ));
        return;
    };
    let sep = if map.decimal_comma {
        DecimalSep::Comma
    } else {
        DecimalSep::Point
    };
    let amount = match amount_of(map, &cell, sep, &col_name) {
        Ok(Some(a)) => a,
        Ok(None) => return,
        Err((field, m)) => {
            problems.push(err_at(line, Some(&field), m));
            return;
        }
    };
    let amount = if map.invert_sign { -amount } else { amount };
    let ccy = match map.currency.as_ref().and_then(&cell) {
        Some(c) => match Currency::parse(c) {
            Ok(c) => c,
            Err(e) => {
                let field = map.currency.as_ref().map(col_name).unwrap_or_default();
                problems.push(err_at(line, Some(&field), e.to_string()));
                return;
            }
        },
        None => default_ccy,
    };
    let mut t = Txn::new(booked, Money::new(amount, ccy));
    let opt = |c: &Option<Column>| c.as_ref().and_then(&cell).and_then(clean);
    t.value_date = map
        .value_date
        .as_ref()
        .and_then(&cell)
        .and_then(|d| parse_date(d, &map.date_formats));
    t.file_account = opt(&map.account);
    t.unique_ref = opt(&map.id).map(UniqueRef::RowId);
    t.bank_reference = opt(&map.bank_reference).or_else(|| opt(&map.id));
    t.clave_rastreo = map
        .clave_rastreo
        .as_ref()
        .and_then(&cell)
        .and_then(clean_ref);
    t.referencia_numerica = map
        .referencia_numerica
        .as_ref()
        .and_then(&cell)
        .and_then(clean_ref);
    t.payer_name = opt(&map.payer_name);
    t.payer_rfc = map.payer_rfc.as_ref().and_then(&cell).and_then(clean_ref);
    t.payer_account = map
        .payer_account
        .as_ref()
        .and_then(&cell)
        .and_then(clean_ref);
    t.other_refs = map
        .references
        .iter()
        .filter_map(&cell)
        .filter_map(clean_ref)
        .collect();
    t.late_referencia = map
        .references
        .iter()
        .filter(|c| matches!(c, Column::Name(n) if is_referencia_header(n)))
        .filter_map(&cell)
        .find_map(crate::mx::referencia_in_field);
    let concept: Vec<&str> = map.concepto.iter().filter_map(&cell).collect();
    t.concepto = clean(&concept.join(" "));
    t.status = opt(&map.status);
    let mut e = end.min(bytes.len());
    while e > start && matches!(bytes.get(e - 1), Some(b'\n' | b'\r')) {
        e -= 1;
    }
    t.span = start..e;
    t.line = line;
    txns.push(t);
}

/// A reference column that may hold the referencia numérica (`REFERENCIA`, `Referencia numérica`, `Ref`), not
/// the bank's own (`REFERENCIA BANCARIA`).
fn is_referencia_header(name: &str) -> bool {
    let h = norm_header(name);
    h == "ref" || h == "refnum" || (h.starts_with("referencia") && !h.contains("bancaria"))
}

type Cell<'a> = dyn Fn(&Column) -> Option<&'a str> + 'a;

/// The signed amount of a row; `Ok(None)` when the row has no amount at all (skipped).
fn amount_of<'a>(
    map: &CsvMapping,
    cell: &Cell<'a>,
    sep: DecimalSep,
    col_name: &dyn Fn(&Column) -> String,
) -> Result<Option<rust_decimal::Decimal>, (String, String)> {
    let num = |c: &Column| -> Result<Option<rust_decimal::Decimal>, (String, String)> {
        match cell(c) {
            None => Ok(None),
            Some(v) => {
                check_grouping(v, sep, map.thousands_separator).map_err(|m| (col_name(c), m))?;
                parse_amount(v, sep).map(Some).map_err(|m| (col_name(c), m))
            }
        }
    };
    if let Some(a) = &map.amount {
        let Some(v) = num(a)? else {
            return Ok(None);
        };
        // The indicator only applies where the row has one (presets name it optionally).
        if let Some(ind) = map.debit_credit.as_ref().and_then(cell) {
            let debit = map.debit_values.iter().any(|d| d.eq_ignore_ascii_case(ind));
            return Ok(Some(if debit { -v.abs() } else { v.abs() }));
        }
        return Ok(Some(v));
    }
    let debit = match &map.debit {
        Some(c) => num(c)?,
        None => None,
    };
    let credit = match &map.credit {
        Some(c) => num(c)?,
        None => None,
    };
    // A minus sign in the credit column has no reading we can trust (a debit in the wrong column, a reversal?):
    // the row is refused rather than stored as a credit. A debit column's sign is ignored, as banks write both.
    if let (Some(c), Some(v)) = (&map.credit, credit) {
        if v.is_sign_negative() && !v.is_zero() {
            return Err((
                col_name(c),
                format!(
                    "{v} is negative in the credit column: expected a positive amount (a debit belongs in the \
                     debit column)"
                ),
            ));
        }
    }
    if debit.is_none() && credit.is_none() {
        return Ok(None);
    }
    Ok(Some(
        credit.unwrap_or_default().abs() - debit.unwrap_or_default().abs(),
    ))
}

/// Refuses a thousands separator the mapping does not declare, and digit groups that are not of three.
fn check_grouping(v: &str, sep: DecimalSep, declared: Option<char>) -> Result<(), String> {
    let (dec, other) = match sep {
        DecimalSep::Comma => (',', '.'),
        _ => ('.', ','),
    };
    if !v.contains(other) {
        return Ok(());
    }
    if declared != Some(other) {
        return Err(format!(
            "found the thousands separator {other:?} in {v:?}, but the mapping declares none (set \
             thousands_separator = \"{other}\" if the export writes them)"
        ));
    }
    let int_part = v.rsplit_once(dec).map_or(v, |(i, _)| i);
    let digits: String = int_part
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == other)
        .collect();
    let mut groups = digits.split(other);
    let first_ok = groups.next().is_some_and(|g| (1..=3).contains(&g.len()));
    if !first_ok || !groups.all(|g| g.len() == 3) {
        return Err(format!(
            "expected digit groups of three between thousands separators {other:?}, found {v:?}"
        ));
    }
    Ok(())
}

fn parse_date(s: &str, formats: &[String]) -> Option<NaiveDate> {
    let s = s.trim();
    formats.iter().find_map(|f| {
        NaiveDate::parse_from_str(s, f)
            .ok()
            .or_else(|| NaiveDateTime::parse_from_str(s, f).ok().map(|dt| dt.date()))
    })
}
