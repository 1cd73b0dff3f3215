//! The FileImporter: deliveries, raw bytes, options and whole-file errors.

use crate::support::own_fixture;
use cuadra_bank::StatementImporter;
use cuadra_sdk::{Delivery, FileImporter, ImportOptions, InputError, Record};

fn run(
    imp: &StatementImporter,
    name: &str,
    bytes: &[u8],
    opts: &ImportOptions,
) -> Result<(Vec<Delivery>, Vec<InputError>), InputError> {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    imp.read_bytes(
        name,
        bytes,
        opts,
        &mut |d| {
            out.push(d);
            Ok(())
        },
        &mut |e| bad.push(e),
    )?;
    Ok((out, bad))
}

#[test]
fn file_delivery_then_one_per_entry_with_exact_raw() {
    let path = own_fixture("mt940_quirks.sta");
    let bytes = std::fs::read(&path).expect("fixture");
    let imp = StatementImporter::default();
    assert_eq!(imp.family(), "statement");
    assert!(imp.sniff("x.sta", &bytes));
    let mut out = Vec::new();
    imp.read(
        &path,
        &ImportOptions::default(),
        &mut |d| {
            out.push(d);
            Ok(())
        },
        &mut |e| panic!("{e}"),
    )
    .expect("reads");
    assert_eq!(out.len(), 5);
    assert_eq!(
        out[0].external_id,
        format!("file:{}", cuadra_sdk::sha256_hex(&bytes))
    );
    assert_eq!(out[0].raw, bytes);
    assert!(out[0].records.is_empty());
    for d in &out[1..] {
        assert_eq!(d.kind, "mt940");
        assert!(
            d.raw.starts_with(b":61:"),
            "{:?}",
            String::from_utf8_lossy(&d.raw)
        );
        let Some(Record::Payment(p)) = d.records.first() else {
            panic!("payment record")
        };
        assert_eq!(p.external_id, d.external_id);
    }
    let (again, _) = run(&imp, "other-name.sta", &bytes, &ImportOptions::default()).expect("reads");
    let a: Vec<_> = out
        .iter()
        .map(|d| (d.external_id.clone(), d.sha256_hex()))
        .collect();
    let b: Vec<_> = again
        .iter()
        .map(|d| (d.external_id.clone(), d.sha256_hex()))
        .collect();
    assert_eq!(a, b, "re-import is identical");
}

#[test]
fn options_format_and_account() {
    let bytes = std::fs::read(own_fixture("csv_mx_normalizado.csv")).expect("fixture");
    let imp = StatementImporter::default();
    let opts = ImportOptions {
        format: Some("csv:mx-normalizado".into()),
        account: Some("banorte-mxn".into()),
    };
    let (out, bad) = run(&imp, "edo.csv", &bytes, &opts).expect("reads");
    assert_eq!(out.len(), 5);
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].location.file.as_deref(), Some("edo.csv"));
    assert_eq!(bad[0].location.line, Some(8));
    let Some(Record::Payment(p)) = out[1].records.first() else {
        panic!("payment")
    };
    assert_eq!(p.own_account.as_deref(), Some("banorte-mxn"));
    let e = run(
        &imp,
        "edo.csv",
        &bytes,
        &ImportOptions {
            format: Some("qif".into()),
            account: None,
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("unknown statement format"), "{e}");
    let e = run(
        &imp,
        "edo.csv",
        &bytes,
        &ImportOptions {
            format: Some("csv:nope".into()),
            account: None,
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("unknown CSV preset"), "{e}");
}

#[test]
fn a_file_with_only_bad_entries_fails_whole_and_names_the_file() {
    let imp = StatementImporter::default();
    let s = b":20:X\n:25:1\n:61:240101C1,00NTRFNONREF\n";
    let e = run(&imp, "no-currency.sta", s, &ImportOptions::default()).unwrap_err();
    assert_eq!(e.location.file.as_deref(), Some("no-currency.sta"));
    assert_eq!(e.location.line, Some(3));
    assert!(e.to_string().contains(":60F:"), "{e}");
    let e = run(
        &imp,
        "photo.jpg",
        b"\xff\xd8\xff",
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("could not tell the statement format"),
        "{e}"
    );
}

/// A camt cut short (a broken download) or with a broken element fails as a whole with line and column: no
/// delivery at all, not the entries before the break.
#[test]
fn a_truncated_or_ill_formed_camt_is_refused_whole() {
    let bytes = std::fs::read(own_fixture("camt053_mx_v08.xml")).expect("fixture");
    let text = String::from_utf8(bytes.clone()).expect("utf8");
    let imp = StatementImporter::default();
    let opts = ImportOptions::default();
    let (whole, _) = run(&imp, "whole.xml", &bytes, &opts).expect("the whole file imports");
    assert!(whole.len() > 2);
    // Cut after the first entry closed.
    let cut = text.find("</Ntry>").expect("an entry") + "</Ntry>".len();
    let e = run(&imp, "cut.xml", &bytes[..cut], &opts).expect_err("a truncated file is refused");
    assert_eq!(e.location.file.as_deref(), Some("cut.xml"));
    let line = text[..cut].lines().count() as u64;
    assert_eq!(e.location.line, Some(line), "{e}");
    assert!(e.location.column.is_some(), "{e}");
    assert!(e.message.contains("truncated"), "{e}");
    // A broken element after the first entry: refused with the line and column of the break.
    let broken = format!("{}<Ntry><Amt></Ntry>{}", &text[..cut], &text[cut..]);
    let e =
        run(&imp, "broken.xml", broken.as_bytes(), &opts).expect_err("ill-formed XML is refused");
    assert_eq!(e.location.line, Some(line), "{e}");
    assert!(e.location.column.is_some_and(|c| c > 1), "{e}");
    assert!(e.message.contains("not well-formed"), "{e}");
}

/// A camt with one entry whose remittance text is `n` bytes long.
fn camt_with_remittance(n: usize) -> Vec<u8> {
    format!(
        "<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\"><BkToCstmrStmt><GrpHdr><MsgId>M</MsgId>\
         </GrpHdr><Stmt><Id>S</Id><Acct><Id><Othr><Id>012180001234567895</Id></Othr></Id></Acct>\n\
         <Ntry><Amt Ccy=\"MXN\">100.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>\
         <BookgDt><Dt>2024-03-05</Dt></BookgDt><NtryDtls><TxDtls><RmtInf><Ustrd>{}</Ustrd></RmtInf>\
         </TxDtls></NtryDtls></Ntry></Stmt></BkToCstmrStmt></Document>",
        "Ñ".repeat(n / 2)
    )
    .into_bytes()
}

#[test]
fn statement_files_and_fields_are_capped() {
    use cuadra_bank::importer::Limits;
    assert_eq!(
        Limits::default(),
        Limits {
            max_file_bytes: 64 * 1024 * 1024,
            max_field_bytes: 4096
        }
    );
    let opts = ImportOptions::default();
    // A field longer than the limit is cut (at a character boundary) with a warning naming file, line, field.
    let bytes = camt_with_remittance(100_000);
    let imp = StatementImporter::default();
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    imp.read_bytes_reporting(
        "big.xml",
        &bytes,
        &opts,
        &mut |d| {
            out.push(d);
            Ok(())
        },
        &mut |e| panic!("{e}"),
        &mut |w| warnings.push(w),
    )
    .expect("imports");
    let Record::Payment(p) = &out[1].records[0] else {
        panic!("a payment")
    };
    let concepto = p.concepto.as_deref().expect("concepto");
    assert!(
        concepto.len() <= 4096 && concepto.len() >= 4094,
        "{}",
        concepto.len()
    );
    let w: Vec<_> = warnings
        .iter()
        .filter(|w| w.kind == cuadra_bank::model::WarningKind::FieldTruncated)
        .collect();
    assert_eq!(w.len(), 1, "{warnings:?}");
    assert_eq!(w[0].location.file.as_deref(), Some("big.xml"));
    assert_eq!(w[0].location.line, Some(2));
    assert_eq!(w[0].location.field.as_deref(), Some("concepto"));
    assert!(!w[0].is_conflict());
    // The identity does not depend on the limit.
    let wide = imp.clone().with_limits(Limits {
        max_field_bytes: 1 << 20,
        ..Limits::default()
    });
    let (wide_out, _) = run(&wide, "big.xml", &bytes, &opts).expect("imports");
    assert_eq!(wide_out[1].external_id, out[1].external_id);
    // A file larger than the limit is refused whole, from memory and from disk, before anything is delivered.
    let small = imp.with_limits(Limits {
        max_file_bytes: 10_000,
        ..Limits::default()
    });
    let e = run(&small, "big.xml", &bytes, &opts).expect_err("too big");
    assert!(e.message.contains("more than the limit of 10000"), "{e}");
    let dir = std::env::temp_dir().join(format!("cuadra-bank-cap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let path = dir.join("big.xml");
    std::fs::write(&path, &bytes).expect("write");
    let mut delivered = 0;
    let e = small
        .read(
            &path,
            &opts,
            &mut |_| {
                delivered += 1;
                Ok(())
            },
            &mut |_| {},
        )
        .expect_err("too big");
    assert_eq!(delivered, 0);
    assert_eq!(
        e.location.file.as_deref(),
        Some(path.display().to_string().as_str())
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// An OFX cut short loses the transactions after the cut: refused as a whole instead.
#[test]
fn a_truncated_ofx_is_refused_whole() {
    let bytes = std::fs::read(own_fixture("ofx_v2_xml.ofx")).expect("fixture");
    let imp = StatementImporter::default();
    let opts = ImportOptions::default();
    run(&imp, "whole.ofx", &bytes, &opts).expect("the whole file imports");
    let text = String::from_utf8(bytes).expect("utf8");
    let cut = text.find("</STMTTRN>").expect("a transaction") + "</STMTTRN>".len();
    let e = run(&imp, "cut.ofx", &text.as_bytes()[..cut], &opts).expect_err("refused");
    assert!(e.message.contains("truncated"), "{e}");
    assert_eq!(e.location.file.as_deref(), Some("cut.ofx"));
}

/// An MT940 without its closing balance is imported, with a warning naming the file, line and field.
#[test]
fn a_missing_closing_balance_is_a_warning_of_the_file() {
    let sta = b":20:S1\r\n:25:012180001234567895\r\n:28C:1/1\r\n:60F:C240301MXN0,00\r\n\
                :61:240301C100,00NTRFNONREF\r\n:86:PAGO\r\n";
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    StatementImporter::default()
        .read_bytes_reporting(
            "cut.sta",
            sta,
            &ImportOptions::default(),
            &mut |d| {
                out.push(d);
                Ok(())
            },
            &mut |e| panic!("{e}"),
            &mut |w| warnings.push(w),
        )
        .expect("imports");
    assert_eq!(out.len(), 2, "the file and its entry");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let w = &warnings[0];
    assert_eq!(w.kind.as_str(), "statement-missing-balance");
    assert_eq!(w.location.file.as_deref(), Some("cut.sta"));
    assert_eq!(w.location.line, Some(1));
    assert_eq!(w.location.field.as_deref(), Some(":62F:"));
    assert!(w.to_input_error().to_string().contains("cut.sta"));
}
