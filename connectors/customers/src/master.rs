//! Reading the customer master: CSV or XLSX with the contract's columns (English or Spanish headers). Bad rows are
//! reported by line and skipped; good rows are kept; re-importing updates in place.

use crate::FileError;
use calamine::{open_workbook_auto, Data, Reader};
use cuadra_sdk::{
    parse_decimal, Clabe, Currency, CustomerRecord, Delivery, InputError, Location, Record, Rfc,
};
use std::path::Path;

/// A good row and where it came from.
#[derive(Debug, Clone)]
pub struct CustomerRow {
    pub line: u64,
    pub record: CustomerRecord,
}

#[derive(Debug, Default)]
pub struct ParsedCustomers {
    pub rows: Vec<CustomerRow>,
    pub errors: Vec<InputError>,
}

/// Canonical column for a header, accepting the contract's Spanish names.
fn canonical(header: &str) -> Option<&'static str> {
    let h = deunicode_lower(header);
    Some(match h.as_str() {
        "rfc" => "rfc",
        "name" | "razon_social" | "nombre" | "razon social" => "name",
        "email" | "emails" | "correo" | "correos" => "email",
        "phone" | "telefono" => "phone",
        "whatsapp" => "whatsapp",
        "credit_days" | "dias_credito" => "credit_days",
        "credit_limit" | "limite_credito" => "credit_limit",
        "currency" | "moneda" => "currency",
        "payment_reference" | "referencia" => "payment_reference",
        "clabe" | "cuenta" | "cuentas" | "accounts" => "clabe",
        "language" | "idioma" => "language",
        "erp_id" => "erp_id",
        "group" | "grupo" | "corporate_group" | "grupo_corporativo" => "group",
        _ => return None,
    })
}

fn deunicode_lower(s: &str) -> String {
    s.trim()
        .trim_start_matches('\u{feff}')
        .to_lowercase()
        .replace(['á', 'à'], "a")
        .replace('é', "e")
        .replace('í', "i")
        .replace('ó', "o")
        .replace('ú', "u")
}

/// Reads a customer file (`.csv` or `.xlsx`/`.xls`/`.ods`).
pub fn parse_file(path: &Path) -> Result<ParsedCustomers, FileError> {
    let name = path.display().to_string();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let table: Vec<(u64, Vec<String>)> = match ext.as_str() {
        "xlsx" | "xlsm" | "xls" | "ods" => read_sheet(path)?,
        _ => read_csv(path)?,
    };
    Ok(parse_rows(&name, table))
}

fn read_csv(path: &Path) -> Result<Vec<(u64, Vec<String>)>, FileError> {
    let bytes = std::fs::read(path)
        .map_err(|e| FileError::new(format!("cannot read {}", path.display()), e))?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        // Spreadsheet exports on Windows are often Latin-1.
        Err(e) => e.into_bytes().iter().map(|&b| b as char).collect(),
    };
    let delimiter = sniff_delimiter(&text);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    // A record's line is counted from its byte offset: the reader's own line count is one short for files with
    // CRLF line endings (every CSV Excel saves on Windows).
    let newlines: Vec<usize> = newline_offsets(text.as_bytes());
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| {
            FileError::new(format!("{}: not a readable CSV file", path.display()), e)
        })?;
        let line = rec
            .position()
            .map(|p| line_at(&newlines, record_start(text.as_bytes(), p.byte() as usize)))
            .unwrap_or(0);
        out.push((line, rec.iter().map(|s| s.to_string()).collect()));
    }
    Ok(out)
}

/// The offsets of every `\n` in `bytes`.
fn newline_offsets(bytes: &[u8]) -> Vec<usize> {
    bytes
        .iter()
        .enumerate()
        .filter_map(|(i, &b)| (b == b'\n').then_some(i))
        .collect()
}

/// Where a record's text starts: the reader may place a record after a CRLF at the `\n` of that line break.
fn record_start(bytes: &[u8], mut offset: usize) -> usize {
    while matches!(bytes.get(offset), Some(b'\r' | b'\n')) {
        offset += 1;
    }
    offset
}

/// The 1-based line of byte `offset`, given the offsets of the line breaks.
fn line_at(newlines: &[usize], offset: usize) -> u64 {
    newlines.partition_point(|&n| n < offset) as u64 + 1
}

fn sniff_delimiter(text: &str) -> u8 {
    let first = text.lines().next().unwrap_or("");
    [b',', b';', b'\t', b'|']
        .into_iter()
        .max_by_key(|d| first.bytes().filter(|b| b == d).count())
        .unwrap_or(b',')
}

fn read_sheet(path: &Path) -> Result<Vec<(u64, Vec<String>)>, FileError> {
    let mut wb = open_workbook_auto(path).map_err(|e| {
        FileError::new(format!("{}: not a readable spreadsheet", path.display()), e)
    })?;
    let sheet = wb
        .sheet_names()
        .first()
        .cloned()
        .ok_or_else(|| FileError(format!("{}: the workbook has no sheet", path.display())))?;
    let range = wb
        .worksheet_range(&sheet)
        .map_err(|e| FileError::new(format!("{}: cannot read sheet {sheet}", path.display()), e))?;
    let start = range.start().map(|(r, _)| r as u64).unwrap_or(0);
    Ok(range
        .rows()
        .enumerate()
        .map(|(i, row)| (start + i as u64 + 1, row.iter().map(cell_text).collect()))
        .collect())
}

/// Spreadsheet numbers arrive as f64: the shortest string that round-trips is what the person typed.
fn cell_text(c: &Data) -> String {
    match c {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => d.to_string(),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#{e:?}"),
    }
}

fn parse_rows(file: &str, table: Vec<(u64, Vec<String>)>) -> ParsedCustomers {
    let mut out = ParsedCustomers::default();
    let mut iter = table
        .into_iter()
        .skip_while(|(_, r)| r.iter().all(|c| c.trim().is_empty()));
    let Some((hline, header)) = iter.next() else {
        out.errors.push(InputError::new(
            Location {
                file: Some(file.into()),
                ..Default::default()
            },
            "the file is empty; expected a header row with at least rfc and name",
        ));
        return out;
    };
    let cols: Vec<Option<&'static str>> = header.iter().map(|h| canonical(h)).collect();
    for required in ["rfc", "name"] {
        if !cols.contains(&Some(required)) {
            out.errors.push(InputError::new(
                Location {
                    file: Some(file.into()),
                    line: Some(hline),
                    ..Default::default()
                },
                format!(
                    "header has no {required} column (found: {})",
                    header.join(", ")
                ),
            ));
            return out;
        }
    }
    for (line, cells) in iter {
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let get = |name: &str| -> Option<String> {
            cols.iter()
                .position(|c| *c == Some(name))
                .and_then(|i| cells.get(i))
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        };
        match parse_row(&get) {
            Ok(record) => out.rows.push(CustomerRow { line, record }),
            Err((field, msg)) => out.errors.push(InputError::new(
                Location {
                    file: Some(file.into()),
                    line: Some(line),
                    field: Some(field.into()),
                    ..Default::default()
                },
                msg,
            )),
        }
    }
    out
}

type RowError = (&'static str, String);

fn parse_row(get: &dyn Fn(&str) -> Option<String>) -> Result<CustomerRecord, RowError> {
    let rfc_text =
        get("rfc").ok_or(("rfc", "is empty; expected the customer's RFC".to_string()))?;
    let rfc = Rfc::parse_strict(&rfc_text).map_err(|e| ("rfc", e.to_string()))?;
    let name = get("name").ok_or(("name", "is empty; expected the razón social".to_string()))?;
    let emails: Vec<String> = get("email")
        .map(|e| {
            e.split([';', ','])
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default();
    for e in &emails {
        if !valid_email(e) {
            return Err((
                "email",
                format!("{e:?} is not an e-mail address like name@example.com"),
            ));
        }
    }
    let credit_days = get("credit_days")
        .map(|d| {
            let t = d.strip_suffix(".0").unwrap_or(&d).to_string();
            t.parse::<u32>().ok().filter(|n| *n <= 3650).ok_or((
                "credit_days",
                format!("{d:?} is not a whole number of days (0 to 3650)"),
            ))
        })
        .transpose()?;
    let credit_limit = get("credit_limit")
        .map(|l| {
            parse_decimal(&l)
                .ok()
                .filter(|d| !d.is_sign_negative() && d.scale() <= 6)
                .ok_or((
                    "credit_limit",
                    format!("{l:?} is not an amount such as 50000.00"),
                ))
        })
        .transpose()?;
    let currency = get("currency")
        .map(|c| Currency::parse(&c).map_err(|e| ("currency", e.to_string())))
        .transpose()?;
    let mut accounts = Vec::new();
    for a in get("clabe").iter().flat_map(|s| s.split([';', ','])) {
        let a: String = a
            .trim()
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        if a.is_empty() {
            continue;
        }
        if !a.bytes().all(|b| b.is_ascii_digit()) || !(10..=18).contains(&a.len()) {
            return Err((
                "clabe",
                format!("{a:?} is not an 18-digit CLABE or a 10-16 digit account"),
            ));
        }
        if a.len() == 18 {
            Clabe::parse(&a).map_err(|e| ("clabe", e.to_string()))?;
        }
        accounts.push(a);
    }
    let reference = get("payment_reference");
    Ok(CustomerRecord {
        rfc: Some(rfc),
        name,
        emails,
        phone: get("phone"),
        whatsapp: get("whatsapp"),
        credit_days,
        credit_limit,
        currency,
        payment_reference: reference,
        accounts,
        language: get("language"),
        erp_id: get("erp_id"),
        group: get("group"),
    })
}

fn valid_email(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !e.chars().any(|c| c.is_whitespace() || c == '<' || c == '>')
}

/// The customer file as one delivery: the file bytes in the raw inbox, one record per good row.
pub fn delivery(path: &Path, parsed: &ParsedCustomers) -> Result<Delivery, FileError> {
    let raw = std::fs::read(path)
        .map_err(|e| FileError::new(format!("cannot read {}", path.display()), e))?;
    Ok(Delivery {
        kind: "customers".into(),
        external_id: path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
        raw,
        records: parsed
            .rows
            .iter()
            .map(|r| Record::Customer(r.record.clone()))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spanish_headers_and_bad_rows() {
        let rows = vec![
            (
                1,
                vec![
                    "RFC".into(),
                    "Razón Social".into(),
                    "Correo".into(),
                    "Dias_Credito".into(),
                    "Cuenta".into(),
                ],
            ),
            (
                2,
                vec![
                    "EKU9003173C9".into(),
                    "Escuela Kemper".into(),
                    "a@b.mx;c@d.mx".into(),
                    "30".into(),
                    "032180000118359719".into(),
                ],
            ),
            (
                3,
                vec![
                    "EKU9003173C8".into(),
                    "Bad digit".into(),
                    "".into(),
                    "".into(),
                    "".into(),
                ],
            ),
            (
                4,
                vec![
                    "XAXX010101000".into(),
                    "Público".into(),
                    "not-an-email".into(),
                    "".into(),
                    "".into(),
                ],
            ),
            (
                5,
                vec![
                    "XAXX010101000".into(),
                    "Público".into(),
                    "".into(),
                    "".into(),
                    "032180000118359718".into(),
                ],
            ),
        ];
        let p = parse_rows("c.csv", rows);
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.rows[0].record.emails, vec!["a@b.mx", "c@d.mx"]);
        assert_eq!(p.rows[0].record.credit_days, Some(30));
        let lines: Vec<u64> = p.errors.iter().filter_map(|e| e.location.line).collect();
        assert_eq!(lines, vec![3, 4, 5]);
        assert!(
            p.errors[0].to_string().contains("c.csv, line 3, field rfc"),
            "{}",
            p.errors[0]
        );
    }

    #[test]
    fn group_column() {
        let rows = vec![
            (1, vec!["rfc".into(), "name".into(), "Grupo".into()]),
            (
                2,
                vec!["EKU9003173C9".into(), "Kemper".into(), "Andina".into()],
            ),
        ];
        let p = parse_rows("c.csv", rows);
        assert_eq!(p.rows[0].record.group.as_deref(), Some("Andina"));
    }

    #[test]
    fn delimiter_sniffing() {
        assert_eq!(sniff_delimiter("rfc;name\n"), b';');
        assert_eq!(sniff_delimiter("rfc,name\n"), b',');
    }

    #[test]
    fn lines_are_the_same_with_crlf_and_lf() {
        let dir = std::env::temp_dir().join(format!("cuadra-crlf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let body = [
            "rfc,razon_social",
            "EKU9003173C9,Kemper",
            "\"bad\nrfc\",Quoted",
            "NOPE,Malo",
            "",
        ];
        for (name, eol) in [("lf.csv", "\n"), ("crlf.csv", "\r\n")] {
            let path = dir.join(name);
            std::fs::write(&path, body.join(eol)).unwrap();
            let rows = read_csv(&path).unwrap();
            let lines: Vec<u64> = rows.iter().map(|(l, _)| *l).collect();
            assert_eq!(lines, vec![1, 2, 3, 5], "{name}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
