//! CSV rows that must be refused (with line and field) rather than stored wrong, and Excel-made files that must
//! keep working.

use cuadra_bank::{parse_statement, presets, CsvMapping, Format, ParseOptions, Parsed};
use rust_decimal::Decimal;

fn parse(bytes: &[u8], csv: Option<CsvMapping>) -> Parsed {
    parse_statement(
        Format::Csv,
        bytes,
        &ParseOptions {
            csv,
            ..ParseOptions::default()
        },
    )
    .expect("the file is readable")
}

fn amounts(p: &Parsed) -> Vec<Decimal> {
    p.entries.iter().map(|e| e.record.amount.amount()).collect()
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str_exact(s).expect("decimal")
}

#[test]
fn a_row_wider_than_the_header_is_refused_with_line_and_field() {
    let csv =
        b"date,amount,concepto\n2024-01-05,1,234.50,Pago grande\n2024-01-06,99.00,Pago chico\n";
    let p = parse(csv, Some(CsvMapping::default()));
    assert_eq!(amounts(&p), vec![dec("99.00")], "never 1.00");
    assert_eq!(p.problems.len(), 1, "{:?}", p.problems);
    let e = &p.problems[0];
    assert_eq!(e.location.line, Some(2));
    assert_eq!(
        e.location.field.as_deref(),
        Some("field 4 (the header has 3)")
    );
    assert!(e.message.contains("quote it"), "{e}");
    // A trailing empty field (a delimiter at the end of data rows only) is not a wider row.
    let p = parse(
        b"date,amount\n2024-01-05,10.00,\n",
        Some(CsvMapping::default()),
    );
    assert_eq!(amounts(&p), vec![dec("10.00")]);
    assert!(p.problems.is_empty(), "{:?}", p.problems);
}

#[test]
fn thousands_separators_only_where_the_mapping_declares_them() {
    let csv = b"date,amount\n2024-01-05,\"1,234.50\"\n2024-01-06,\"12,34.50\"\n2024-01-07,5.00\n";
    let p = parse(csv, Some(CsvMapping::default()));
    assert_eq!(amounts(&p), vec![dec("5.00")]);
    assert_eq!(p.problems.len(), 2);
    assert_eq!(p.problems[0].location.line, Some(2));
    assert_eq!(p.problems[0].location.field.as_deref(), Some("amount"));
    assert!(
        p.problems[0].message.contains("declares none"),
        "{}",
        p.problems[0]
    );
    let declared = CsvMapping {
        thousands_separator: Some(','),
        ..CsvMapping::default()
    };
    let p = parse(csv, Some(declared));
    assert_eq!(amounts(&p), vec![dec("1234.50"), dec("5.00")]);
    assert_eq!(p.problems.len(), 1, "12,34.50 is not a grouping of three");
    assert_eq!(p.problems[0].location.line, Some(3));
    // Decimal comma: the separator is the point.
    let comma = CsvMapping {
        decimal_comma: true,
        thousands_separator: Some('.'),
        delimiter: Some(';'),
        ..CsvMapping::default()
    };
    let p = parse(b"date;amount\n2024-01-05;1.234,50\n", Some(comma));
    assert_eq!(amounts(&p), vec![dec("1234.50")]);
}

/// What Excel on Windows saves: a BOM, CRLF, a Latin-1 accented header and quoted amounts with thousands
/// separators, read with the preset (which declares them).
#[test]
fn excel_csv_keeps_working() {
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(
        b"FECHA,DESCRIPCI\xd3N,CARGO,ABONO\r\n08/11/2024,DEP\xd3SITO,,\"11,600.00\"\r\n09/11/2024,COMISI\xd3N,7.50,\r\n",
    );
    // Not valid UTF-8 after the BOM: decoded as Latin-1.
    let p = parse(&bytes, presets::preset("mx-normalizado"));
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    assert_eq!(amounts(&p), vec![dec("11600.00"), dec("-7.50")]);
    assert_eq!(p.entries[0].line, 2);
    assert_eq!(p.entries[1].line, 3);
    assert_eq!(
        p.entries[0].record.concepto.as_deref(),
        Some("DEPÓSITO"),
        "accented text survives"
    );
    // Header detection finds the preset by itself.
    let p = parse(&bytes, None);
    assert_eq!(amounts(&p), vec![dec("11600.00"), dec("-7.50")]);
}

#[test]
fn a_negative_amount_in_the_credit_column_is_refused_with_line_and_field() {
    let csv = b"fecha,cargo,abono\n2024-01-05,,-500.00\n2024-01-06,-7.50,\n2024-01-07,,99.00\n";
    let mapping = CsvMapping {
        date: cuadra_bank::Column::Name("fecha".into()),
        amount: None,
        debit: Some(cuadra_bank::Column::Name("cargo".into())),
        credit: Some(cuadra_bank::Column::Name("abono".into())),
        ..CsvMapping::default()
    };
    let p = parse(csv, Some(mapping));
    assert_eq!(
        amounts(&p),
        vec![dec("-7.50"), dec("99.00")],
        "never +500.00; a signed debit stays a debit"
    );
    assert_eq!(p.problems.len(), 1, "{:?}", p.problems);
    assert_eq!(p.problems[0].location.line, Some(2));
    assert_eq!(p.problems[0].location.field.as_deref(), Some("abono"));
    assert!(
        p.problems[0].message.contains("credit column"),
        "{}",
        p.problems[0]
    );
}
