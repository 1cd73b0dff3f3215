//! One hand-written fixture per format (tests/fixtures), with Mexican data and the quirks each reader must take.

use crate::support::{own_fixture, parse_file};
use chrono::NaiveDate;
use cuadra_bank::{parse_statement, presets, Format, ParseOptions};
use cuadra_sdk::{InvoiceRef, PaymentKind};
use rust_decimal::Decimal;
use std::str::FromStr;

pub fn d(s: &str) -> Decimal {
    Decimal::from_str(s).expect("test decimal")
}

pub fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
}

#[test]
fn camt053_v08_mexican_credit_batch_debit_pending() {
    let p = parse_file(Format::Camt053, &own_fixture("camt053_mx_v08.xml"));
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    let r: Vec<_> = p.entries.iter().map(|e| &e.record).collect();
    assert_eq!(
        r.len(),
        5,
        "one credit, a batch split in two, a debit, a pending credit"
    );
    let spei = r[0];
    assert_eq!(spei.kind, PaymentKind::Bank);
    assert_eq!(spei.external_id, "asr:646180157000000004:BNK-0001");
    assert_eq!(spei.own_account.as_deref(), Some("646180157000000004"));
    assert_eq!(
        spei.booked_on,
        day("2024-11-08"),
        "civil date of the DtTm, not UTC"
    );
    assert_eq!(spei.value_date, Some(day("2024-11-08")));
    assert_eq!(spei.amount.amount(), d("11600.00"));
    assert_eq!(spei.amount.currency().as_str(), "MXN");
    assert_eq!(
        spei.payer_name.as_deref(),
        Some("Comercializadora Ejemplo & Hijos SA de CV")
    );
    assert_eq!(spei.payer_rfc.as_deref(), Some("EKU9003173C9"));
    assert_eq!(spei.payer_account.as_deref(), Some("072691004495711499"));
    assert_eq!(
        spei.clave_rastreo.as_deref(),
        Some("MBAN01002412260074384299")
    );
    assert_eq!(spei.referencia_numerica.as_deref(), Some("1234567"));
    assert_eq!(
        spei.concepto.as_deref(),
        Some("PAGO FACTURA A-1001 REF NUM 1234567")
    );
    assert_eq!(spei.bank_reference.as_deref(), Some("BNK-0001"));
    assert!(
        matches!(&spei.remittance[0].invoice, InvoiceRef::Uuid(u) if u.as_str() == "6d7434a6-e3f2-47ad-9e4c-08849946afa0")
    );
    assert_eq!(spei.status.as_deref(), Some("booked"));

    assert_eq!(
        (r[1].amount.amount(), r[2].amount.amount()),
        (d("200.00"), d("300.00"))
    );
    assert_eq!(r[1].external_id, "asr:646180157000000004:BNK-0002/0");
    assert_eq!(r[2].external_id, "asr:646180157000000004:BNK-0002/1");
    assert_eq!(
        r[2].payer_name.as_deref(),
        Some("Cliente Dos"),
        "v02-style Dbtr/Nm also read"
    );
    assert_eq!(
        p.entries[1].span, p.entries[2].span,
        "split parts share the Ntry bytes"
    );

    assert_eq!(r[3].amount.amount(), d("-75.50"));
    assert!(!r[3].is_credit());
    assert_eq!(
        r[3].payer_name.as_deref(),
        Some("Proveedor"),
        "counterparty of a debit is the Cdtr"
    );
    assert!(r[3].external_id.starts_with("h:"));
    assert_eq!(r[4].status.as_deref(), Some("pending"));
    assert_eq!(
        r[4].external_id,
        "uetr:255ae394-9965-4438-ac86-f406feada396"
    );
}

#[test]
fn camt053_v02_prefixed_namespace_reversal_five_decimals() {
    let p = parse_file(Format::Camt053, &own_fixture("camt053_v02_prefixed.xml"));
    let r = &p.entries[0].record;
    assert_eq!(r.amount.amount(), d("10.00001"));
    assert_eq!(r.status.as_deref(), Some("reversal"));
    assert_eq!(r.payer_name.as_deref(), Some("Payer v02"));
    assert_eq!(r.own_account.as_deref(), Some("NL77ABNA0574908765"));
    let raw = std::fs::read(own_fixture("camt053_v02_prefixed.xml")).expect("fixture");
    let span = &raw[p.entries[0].span.clone()];
    assert!(span.starts_with(b"<c:Ntry>") && span.ends_with(b"</c:Ntry>"));
}

#[test]
fn camt_rejects_non_camt_and_broken_xml() {
    let o = ParseOptions::default();
    let e = parse_statement(
        Format::Camt053,
        b"<Document xmlns=\"urn:other\"><X/></Document>",
        &o,
    )
    .unwrap_err();
    assert!(e.to_string().contains("camt"), "{e}");
    let e = parse_statement(
        Format::Camt053,
        b"<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\">\n<BkToCstmrStmt><Stmt></Ntry>",
        &o,
    )
    .unwrap_err();
    assert_eq!(e.location.line, Some(2), "{e}");
}

#[test]
fn mt940_quirks() {
    let p = parse_file(Format::Mt940, &own_fixture("mt940_quirks.sta"));
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    let r: Vec<_> = p.entries.iter().map(|e| &e.record).collect();
    assert_eq!(r.len(), 4);
    let a = r[0];
    assert_eq!(
        a.own_account.as_deref(),
        Some("072691004495711499"),
        "currency after :25: split off"
    );
    assert_eq!(a.value_date, Some(day("2024-02-29")), "30 February clamped");
    assert_eq!(a.booked_on, day("2024-03-01"), "entry date");
    assert_eq!(a.amount.amount(), d("11600.00"));
    assert_eq!(a.amount.currency().as_str(), "MXN");
    assert_eq!(a.bank_reference.as_deref(), Some("BANK001"));
    assert_eq!(a.payer_name.as_deref(), Some("COMERCIALIZADORA EJEMPLO"));
    assert_eq!(a.payer_account.as_deref(), Some("072691004495711499"));
    assert_eq!(
        a.clave_rastreo.as_deref(),
        Some("MBAN01002412260074384299"),
        "?20/?21 joined mid-word"
    );
    assert_eq!(a.referencia_numerica.as_deref(), Some("1234567"));
    let b = r[1];
    assert_eq!(
        b.amount.amount(),
        d("-75.5"),
        "D + funds code R, spaces as entry date"
    );
    assert_eq!(b.booked_on, day("2024-03-01"));
    assert_eq!(
        b.concepto.as_deref(),
        Some("COMISION POR SPEI"),
        "lone '-' inside :86: dropped"
    );
    let c = r[2];
    assert_eq!(
        c.amount.amount(),
        d("-12"),
        "RC = reversal of a credit, money out"
    );
    assert_eq!(
        c.payer_name.as_deref(),
        Some("Müller González"),
        "Latin-1 decoded"
    );
    assert_eq!(c.concepto.as_deref(), Some("FACTURA C-3"));
    let e = r[3];
    assert_eq!(
        e.amount.amount(),
        d("250.00"),
        "point decimal, second statement, no :62F:"
    );
    assert_eq!(
        e.concepto.as_deref(),
        Some("PAGO SIN ESTRUCTURA"),
        ":86: marker split over two lines"
    );
    let raw = std::fs::read(own_fixture("mt940_quirks.sta")).expect("fixture");
    let span = &raw[p.entries[0].span.clone()];
    assert!(span.starts_with(b":61:2402300301") && span.ends_with(b"?33 EJEMPLO"));
}

#[test]
fn mt940_bad_line_is_a_problem_not_a_failure() {
    let s = b":20:X\n:25:1\n:60F:C240101MXN0,\n:61:24013XC1,00NTRF\n:61:240102C2,00NTRFNONREF\n:62F:C240102MXN2,";
    let p = parse_statement(Format::Mt940, s, &ParseOptions::default()).expect("parses");
    assert_eq!(p.entries.len(), 1);
    assert_eq!(p.problems.len(), 1);
    assert_eq!(p.problems[0].location.line, Some(4));
    assert!(parse_statement(Format::Mt940, b"hello world", &ParseOptions::default()).is_err());
}

#[test]
fn ofx_v1_sgml_and_v2_xml() {
    let p = parse_file(Format::Ofx, &own_fixture("ofx_v1_sgml.ofx"));
    let r: Vec<_> = p.entries.iter().map(|e| &e.record).collect();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].external_id, "fitid:0123456789:F-1");
    assert_eq!(
        r[0].amount.amount(),
        d("1160.50"),
        "decimal comma with thousands point"
    );
    assert_eq!(r[0].booked_on, day("2024-03-01"));
    assert_eq!(
        r[0].payer_name.as_deref(),
        Some("José Pérez & Cia"),
        "cp1252 + entity"
    );
    assert_eq!(r[0].concepto.as_deref(), Some("PAGO FACTURA A-7"));
    assert_eq!(r[1].amount.amount(), d("-20.00"));
    let p = parse_file(Format::Ofx, &own_fixture("ofx_v2_xml.ofx"));
    let r = &p.entries[0].record;
    assert_eq!(r.amount.amount(), d("250.75"));
    assert_eq!(r.amount.currency().as_str(), "USD");
    assert_eq!(r.value_date, Some(day("2024-01-16")));
    assert_eq!(r.payer_account.as_deref(), Some("55555"));
    assert_eq!(
        r.concepto.as_deref(),
        Some("INV-42"),
        "REFNUM offered when MEMO is empty"
    );
}

#[test]
fn csv_mx_normalizado_latin1_cargo_abono() {
    let p = parse_file(Format::Csv, &own_fixture("csv_mx_normalizado.csv"));
    assert_eq!(p.problems.len(), 1, "the 32/11 row");
    assert_eq!(p.problems[0].location.line, Some(8));
    assert_eq!(p.problems[0].location.field.as_deref(), Some("FECHA"));
    let r: Vec<_> = p.entries.iter().map(|e| &e.record).collect();
    assert_eq!(r.len(), 4, "summary row skipped");
    assert_eq!(r[0].amount.amount(), d("11600.00"));
    assert_eq!(r[0].booked_on, day("2024-11-08"));
    assert_eq!(
        r[0].clave_rastreo.as_deref(),
        Some("MBAN01002412260074384299")
    );
    assert_eq!(r[0].payer_name.as_deref(), Some("COMERCIALIZADORA EJEMPLO"));
    assert_eq!(
        r[0].referencia_numerica.as_deref(),
        Some("1234567"),
        "the REFERENCIA column holds the referencia numérica"
    );
    assert_eq!(r[0].own_account.as_deref(), Some("012180001234567895"));
    assert_eq!(r[1].amount.amount(), d("-7.50"));
    assert_eq!(r[2].concepto.as_deref(), Some("DEPÓSITO EN EFECTIVO"));
    assert_ne!(
        r[2].external_id, r[3].external_id,
        "identical rows keep distinct ids"
    );
    let explicit = ParseOptions {
        csv: presets::preset("mx-normalizado"),
        ..ParseOptions::default()
    };
    let bytes = std::fs::read(own_fixture("csv_mx_normalizado.csv")).expect("fixture");
    let q = parse_statement(Format::Csv, &bytes, &explicit).expect("parses");
    assert_eq!(q.entries.len(), 4);
}

#[test]
fn cep_is_a_spei_payment() {
    let p = parse_file(Format::Cep, &own_fixture("cep_tipo1.xml"));
    let r = &p.entries[0].record;
    assert_eq!(r.kind, PaymentKind::Spei);
    assert_eq!(
        r.external_id,
        "rastreo:20241108:BANORTE:058-25/08/2023/25-300CPWF924"
    );
    assert_eq!(r.booked_on, day("2024-11-08"));
    assert_eq!(
        r.value_date,
        Some(day("2024-11-07")),
        "abono date from cadenaCDA"
    );
    assert_eq!(r.amount.amount(), d("11600.00"));
    assert_eq!(r.own_account.as_deref(), Some("646180157000000004"));
    assert_eq!(r.payer_rfc.as_deref(), Some("EKU9003173C9"));
    assert_eq!(r.payer_account.as_deref(), Some("072691004495711499"));
}

#[test]
fn account_option_overrides_own_account() {
    let bytes = std::fs::read(own_fixture("ofx_v2_xml.ofx")).expect("fixture");
    let o = ParseOptions {
        account: Some("bbva-principal".into()),
        ..ParseOptions::default()
    };
    let p = parse_statement(Format::Ofx, &bytes, &o).expect("parses");
    assert_eq!(
        p.entries[0].record.own_account.as_deref(),
        Some("bbva-principal")
    );
    assert_eq!(
        p.entries[0].record.external_id, "fitid:999:XML-1",
        "ids keep the file's account"
    );
}

/// camt `RmtInf/Strd/CdtrRefInf/Ref` is the referencia numérica when it is one (digits, ≤ 7 significant), beside
/// a concepto of its own; a creditor reference of another shape is not.
#[test]
fn camt_creditor_reference_is_the_referencia_numerica() {
    let entry = |amount: &str, reference: &str| {
        format!(
            "<Ntry><Amt Ccy=\"MXN\">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>\
             <BookgDt><Dt>2026-02-10</Dt></BookgDt><NtryDtls><TxDtls>\
             <RltdPties><Dbtr><Pty><Nm>SERV INTEGRALES DE L</Nm></Pty></Dbtr></RltdPties>\
             <RmtInf><Ustrd>PAGO FACTURA</Ustrd><Strd><CdtrRefInf><Ref>{reference}</Ref></CdtrRefInf></Strd>\
             </RmtInf></TxDtls></NtryDtls></Ntry>"
        )
    };
    let xml = format!(
        "<?xml version=\"1.0\"?><Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08\">\
         <BkToCstmrStmt><GrpHdr><MsgId>R</MsgId><CreDtTm>2026-02-10T20:00:00</CreDtTm></GrpHdr><Stmt><Id>S</Id>\
         <Acct><Id><Othr><Id>646180157000000004</Id></Othr></Id></Acct>{}{}{}</Stmt></BkToCstmrStmt></Document>",
        entry("5000.00", "0001000259"),
        entry("6000.00", "RF18539007547034"),
        entry("7000.00", "REF 1000259"),
    );
    let p =
        parse_statement(Format::Camt053, xml.as_bytes(), &ParseOptions::default()).expect("parses");
    let r: Vec<_> = p.entries.iter().map(|e| &e.record).collect();
    assert_eq!(r.len(), 3, "{:?}", p.problems);
    assert_eq!(r[0].referencia_numerica.as_deref(), Some("0001000259"));
    assert_eq!(r[0].concepto.as_deref(), Some("PAGO FACTURA"));
    assert_eq!(r[1].referencia_numerica, None);
    assert_eq!(r[2].referencia_numerica.as_deref(), Some("1000259"));
}
