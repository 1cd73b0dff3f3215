//! Conformance over every file of the shared corpus `shared/fixtures/bank` (except `webhooks/`), skipped with a
//! message when the folder is absent. Checks: every file either imports or fails with a clear error naming the
//! file (and exactly the intentionally wrong files fail); values for a sample against numbers read from the files
//! by hand, against genkgo's golden camt dumps and against mt940-rs's golden MT940 parses.

use crate::formats::{d, day};
use crate::support::shared_bank;
use cuadra_bank::{parse_statement, Column, CsvMapping, Format, ParseOptions, StatementImporter};
use cuadra_sdk::{ImportOptions, PaymentRecord, Record};
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

/// Files that must be refused as a whole (intentionally wrong, fragments without a statement, server errors,
/// or CSV layouts no preset knows, which need a configured mapping: see `csv_with_explicit_mappings`).
const MUST_FAIL: &[&str] = &[
    "camt053/genkgo_camt053.v2.wrong.xml",
    "mt940/betterplace_empty_86.sta",
    "mt940/betterplace_empty_entry_date.sta",
    "mt940/cmxl_available_balance.sta",
    "mt940/cmxl_statement_details.sta",
    "mt940/cmxl_statement_line.sta",
    "mt940/edge_empty_non_swift.sta",
    "mt940/edge_invalid_statement.sta",
    "mt940/sparkasse_de_newline_in_61.sta",
    "ofx/oca_test_ofx_wrong.ofx",
    "ofx/ofxparse_error_message.ofx",
    "ofx/ofxparse_fail_nice_date_missing.ofx",
    "ofx/ofxparse_fail_nice_decimal_error.ofx",
    "ofx/ofxparse_signon_fail.ofx",
    "csv/oca_sheet_debit_credit_amount.csv",
    "csv/oca_sheet_meta_data_separated_credit_debit.csv",
];

fn import(path: &Path, format: Option<&str>) -> Result<Vec<PaymentRecord>, cuadra_sdk::InputError> {
    let bytes = std::fs::read(path).expect("readable fixture");
    let mut recs = Vec::new();
    let name = path.display().to_string();
    let opts = ImportOptions {
        format: format.map(str::to_string),
        account: None,
    };
    StatementImporter::default().read_bytes(
        &name,
        &bytes,
        &opts,
        &mut |dl| {
            for r in dl.records {
                if let Record::Payment(p) = r {
                    recs.push(p);
                }
            }
            Ok(())
        },
        &mut |_| {},
    )?;
    Ok(recs)
}

#[test]
fn every_file_imports_or_fails_clearly() {
    let Some(root) = shared_bank() else { return };
    let mut failed = BTreeSet::new();
    let mut total = 0;
    for dir in [
        "camt052", "camt053", "camt054", "mt940", "ofx", "csv", "cep",
    ] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
            .expect("dir")
            .flatten()
            .map(|e| e.path())
            .collect();
        files.retain(|p| p.is_file());
        files.sort();
        for f in files {
            total += 1;
            let rel = format!(
                "{dir}/{}",
                f.file_name().and_then(|n| n.to_str()).unwrap_or_default()
            );
            let format = (dir == "csv").then_some("csv");
            match import(&f, format) {
                Ok(recs) => {
                    for r in &recs {
                        assert!(!r.external_id.is_empty(), "{rel}");
                    }
                    let ids: BTreeSet<_> = recs.iter().map(|r| &r.external_id).collect();
                    assert_eq!(ids.len(), recs.len(), "{rel}: ids unique within a file");
                }
                Err(e) => {
                    assert_eq!(
                        e.location.file.as_deref(),
                        Some(f.display().to_string().as_str()),
                        "{rel}: {e}"
                    );
                    assert!(e.message.len() > 10, "{rel}: {e}");
                    failed.insert(rel);
                }
            }
        }
    }
    let expected: BTreeSet<String> = MUST_FAIL.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        failed, expected,
        "files refused vs. files expected to be refused"
    );
    assert!(total >= 186, "corpus smaller than expected: {total}");
}

fn parse(root: &Path, rel: &str, f: Format) -> Vec<PaymentRecord> {
    let bytes = std::fs::read(root.join(rel)).expect("fixture");
    let p = parse_statement(f, &bytes, &ParseOptions::default())
        .unwrap_or_else(|e| panic!("{rel}: {e}"));
    p.entries.into_iter().map(|e| e.record).collect()
}

#[test]
fn camt_against_genkgo_goldens() {
    let Some(root) = shared_bank() else { return };
    for (xml, json) in [
        (
            "camt053/genkgo_camt053.v2.minimal.xml",
            "camt053.v2.minimal.json",
        ),
        ("camt053/genkgo_camt053.v4.xml", "camt053.v4.json"),
        ("camt053/genkgo_camt053.v8.xml", "camt053.v8.json"),
    ] {
        let recs = parse(&root, xml, Format::Camt053);
        let golden: Value = serde_json::from_slice(
            &std::fs::read(root.join("camt053/expected_genkgo").join(json)).expect("golden"),
        )
        .expect("json");
        let entries = golden["getEntries"].as_array().expect("entries");
        assert_eq!(recs.len(), entries.len(), "{xml}");
        for (r, g) in recs.iter().zip(entries) {
            let minor =
                Decimal::from_str_exact(g["getAmount"]["getAmount"].as_str().expect("amount"))
                    .expect("dec");
            let credit = g["getCreditDebitIndicator"].as_str() == Some("CRDT");
            let expected = if credit { minor } else { -minor } / Decimal::from(100);
            assert_eq!(r.amount.amount(), expected, "{xml}");
            assert_eq!(
                r.amount.currency().as_str(),
                g["getAmount"]["getCurrency"]["getCode"]
                    .as_str()
                    .expect("ccy")
            );
            let date = |v: &Value| v["0"].as_str().map(|s| day(&s[..10]));
            assert_eq!(Some(r.booked_on), date(&g["getBookingDate"]), "{xml}");
            assert_eq!(r.value_date, date(&g["getValueDate"]), "{xml}");
            if let Some(asr) = g["getAccountServicerReference"].as_str() {
                assert_eq!(r.bank_reference.as_deref(), Some(asr), "{xml}");
            }
            let parties = g["getTransactionDetail"]["getRelatedParties"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let debtor = parties.iter().find(|p| {
                p["getRelatedPartyType"]["__CLASS__"]
                    .as_str()
                    .is_some_and(|c| c.ends_with("\\Debtor"))
            });
            if let Some(p) = debtor {
                assert_eq!(
                    r.payer_name.as_deref(),
                    p["getRelatedPartyType"]["getName"].as_str(),
                    "{xml}"
                );
                assert_eq!(
                    r.payer_account.as_deref(),
                    p["getAccount"]["getIdentification"].as_str(),
                    "{xml}"
                );
            }
        }
    }
}

#[test]
fn mt940_against_mt940rs_goldens() {
    let Some(root) = shared_bank() else { return };
    for (json, sta) in [
        ("abnamro__mt940", "abnamro_nl_2.sta"),
        ("betterplace__sepa_snippet", "betterplace_sepa_snippet.sta"),
        (
            "betterplace__with_binary_character",
            "betterplace_with_binary_character.sta",
        ),
        ("bugs__issue-51", "bug_issue51_tag_in_86.sta"),
        ("cmxl__mt940_1", "cmxl_mt940_1.sta"),
        ("cmxl__mt940_2", "cmxl_mt940_2.sta"),
        ("danskebank__MT940_DK_Example", "danskebank_dk.sta"),
        ("danskebank__MT940_FI_Example", "danskebank_fi.sta"),
        ("danskebank__MT940_NO_Example", "danskebank_no.sta"),
        ("danskebank__MT940_SE_Example", "danskebank_se.sta"),
        ("jejik__abnamro", "abnamro_nl.sta"),
        ("jejik__ing", "ing_nl.sta"),
        ("jejik__knab", "knab_nl.sta"),
        ("jejik__postfinance", "postfinance_ch.sta"),
        ("jejik__rabobank-iban", "rabobank_iban_nl.sta"),
        ("jejik__sns", "sns_nl.sta"),
        ("mBank__mt940", "mbank_pl.sta"),
        ("mBank__with_newline_in_tnr", "mbank_pl_newline_in_tnr.sta"),
        ("sparkasse__buxtehude", "sparkasse_buxtehude_de.sta"),
    ] {
        let recs = parse(&root, &format!("mt940/{sta}"), Format::Mt940);
        let golden: Value = serde_json::from_slice(
            &std::fs::read(
                root.join("mt940/expected_mt940rs")
                    .join(format!("{json}.json")),
            )
            .expect("golden"),
        )
        .expect("json");
        let mut expected = Vec::new();
        for msg in golden.as_array().expect("messages") {
            let ccy = msg["opening_balance"]["iso_currency_code"]
                .as_str()
                .unwrap_or("")
                .to_string();
            for l in msg["statement_lines"].as_array().expect("lines") {
                let amt = d(l["amount"].as_str().expect("amount"));
                let sign = match l["ext_debit_credit_indicator"].as_str() {
                    Some("Credit") | Some("ReverseDebit") => amt,
                    _ => -amt,
                };
                let booked = l["entry_date"]
                    .as_str()
                    .or(l["value_date"].as_str())
                    .map(day);
                expected.push((
                    sign,
                    ccy.clone(),
                    day(l["value_date"].as_str().expect("vd")),
                    booked,
                ));
            }
        }
        let got: Vec<_> = recs
            .iter()
            .map(|r| {
                (
                    r.amount.amount(),
                    r.amount.currency().to_string(),
                    r.value_date.expect("vd"),
                    Some(r.booked_on),
                )
            })
            .collect();
        assert_eq!(got, expected, "{sta}");
    }
}

#[test]
fn sample_values_read_by_hand() {
    let Some(root) = shared_bank() else { return };
    // ASN: SWIFT envelopes, one statement per day, IBAN as customer reference.
    let r = parse(&root, "mt940/asn_nl_blocks.txt", Format::Mt940);
    assert_eq!(r.len(), 8);
    assert_eq!(
        (r[0].booked_on, r[0].amount.amount()),
        (day("2020-01-01"), d("-65.00"))
    );
    assert_eq!(r[0].own_account.as_deref(), Some("NL81ASNB9999999999"));
    // Citibank: 4 spaces as entry date, funds code D.
    let r = parse(
        &root,
        "mt940/citibank_us_spaces_entry_date.sta",
        Format::Mt940,
    );
    assert_eq!(
        (r[0].booked_on, r[0].amount.amount()),
        (day("2024-03-12"), d("-212.39"))
    );
    assert_eq!(r[0].amount.currency().as_str(), "USD");
    // German GVC with ?32 name.
    let r = parse(&root, "mt940/kontist_de.sta", Format::Mt940);
    assert!(
        r.iter().any(|x| x.payer_name.is_some()),
        "kontist ?32 names"
    );
    // Rabobank structured: /ORDP//NAME/.
    let r = parse(&root, "mt940/rabobank_nl_php_3.sta", Format::Mt940);
    let b = r
        .iter()
        .find(|x| x.amount.amount() == d("169.90"))
        .expect("169,90 credit");
    assert_eq!(b.payer_name.as_deref(), Some("Bedrijf B.V."));
    // camt batch split: 2187.00 + 1296.00 CHF from one entry.
    let r = parse(
        &root,
        "camt053/oca_test-camt053-txdtls_v04.xml",
        Format::Camt053,
    );
    assert_eq!(
        r.iter().map(|x| x.amount.amount()).collect::<Vec<_>>(),
        vec![d("2187.00"), d("1296.00")]
    );
    // camt.054 with UETR.
    let r = parse(
        &root,
        "camt054/genkgo_camt054.v8-with-UETR.xml",
        Format::Camt054,
    );
    assert_eq!(
        r[0].external_id,
        "uetr:255ae394-9965-4438-ac86-f406feada396"
    );
    assert_eq!(r[0].amount.amount(), d("-200000"));
    // Five decimals kept exactly.
    let r = parse(
        &root,
        "camt053/genkgo_camt053.v2.five.decimals.xml",
        Format::Camt053,
    );
    assert_eq!(
        r[0].amount.amount().to_string(),
        "8.850",
        "trailing decimals kept as written"
    );
    // OFX: SGML checking, v2 with unclosed SEVERITY (ANZ), euro decimal comma.
    let r = parse(&root, "ofx/ofxparse_checking.ofx", Format::Ofx);
    assert_eq!(
        (r[1].booked_on, r[1].amount.amount()),
        (day("2011-04-05"), d("-34.51"))
    );
    assert_eq!(r[1].external_id, "fitid:14526877:0000487");
    let r = parse(&root, "ofx/ofxparse_anzcc.ofx", Format::Ofx);
    assert_eq!(r[0].amount.amount(), d("-5.50"));
    let r = parse(&root, "ofx/ofxtools_stmtrs_euro.ofx", Format::Ofx);
    assert_eq!(
        r.iter().map(|x| x.amount.amount()).collect::<Vec<_>>(),
        vec![d("-200.00"), d("-300.00")]
    );
    // MT942 interim report: currency from :34F: floor limit.
    let r = parse(&root, "mt940/mbank_pl_mt942.sta", Format::Mt940);
    assert!(!r.is_empty() && r.iter().all(|x| x.amount.currency().as_str() == "PLN"));
    // PayPal statement (ES): decimal comma, Spanish headers.
    let r = parse(&root, "csv/oca_paypal_statement_es.csv", Format::Csv);
    assert_eq!(
        (r[0].booked_on, r[0].amount.amount()),
        (day("2020-01-02"), d("49.37"))
    );
    assert_eq!(r[0].payer_name.as_deref(), Some("Partner 1"));
}

#[test]
fn csv_with_explicit_mappings() {
    let Some(root) = shared_bank() else { return };
    let m = CsvMapping {
        date: Column::name("Date"),
        date_formats: vec!["%d/%m/%y".into()],
        amount: None,
        debit: Some(Column::name("Debit")),
        credit: Some(Column::name("Credit")),
        decimal_comma: true,
        default_currency: "EUR".into(),
        concepto: vec![Column::name("Label"), Column::name("Detail")],
        bank_reference: Some(Column::name("Operation Number")),
        ..CsvMapping::default()
    };
    let bytes = std::fs::read(root.join("csv/oca_sheet_meta_data_separated_credit_debit.csv"))
        .expect("fixture");
    let p = parse_statement(
        Format::Csv,
        &bytes,
        &ParseOptions {
            csv: Some(m),
            ..ParseOptions::default()
        },
    )
    .expect("ok");
    let amounts: Vec<_> = p.entries.iter().map(|e| e.record.amount.amount()).collect();
    assert_eq!(
        amounts,
        vec![d("-50.00"), d("-100.00"), d("-80.68"), d("1300.00")]
    );
    assert_eq!(p.entries[0].record.booked_on, day("2020-04-01"));
    let m = CsvMapping {
        date: Column::name("Date"),
        date_formats: vec!["%m/%d/%Y".into()],
        amount: None,
        debit: Some(Column::name("Debit")),
        credit: Some(Column::name("Credit")),
        payer_name: Some(Column::name("Partner Name")),
        // The export writes `1,500.00`: a mapping must say so (issue 18).
        thousands_separator: Some(','),
        ..CsvMapping::default()
    };
    let bytes = std::fs::read(root.join("csv/oca_sheet_debit_credit_amount.csv")).expect("fixture");
    let p = parse_statement(
        Format::Csv,
        &bytes,
        &ParseOptions {
            csv: Some(m),
            ..ParseOptions::default()
        },
    )
    .expect("ok");
    let amounts: Vec<_> = p.entries.iter().map(|e| e.record.amount.amount()).collect();
    // `-13.50` in the Credit column (labelled "Credit 13.50", while the balance column falls by 13.50) has no
    // reading we can trust: the row is refused with its line and field, never stored as +13.50 (issue 18).
    assert_eq!(amounts, vec![d("20.00"), d("-33.50"), d("-1500.00")]);
    assert_eq!(p.problems.len(), 1, "{:?}", p.problems);
    assert_eq!(p.problems[0].location.line, Some(3));
    assert_eq!(p.problems[0].location.field.as_deref(), Some("Credit"));
}

#[test]
fn cep_corpus() {
    let Some(root) = shared_bank() else { return };
    let r = parse(&root, "cep/cep_spei_tercero_tipo_pago_01.xml", Format::Cep);
    let p = &r[0];
    assert_eq!(p.amount.amount(), d("3414.95"));
    assert_eq!(p.clave_rastreo.as_deref(), Some("BiB202411081016248360"));
    assert_eq!(p.payer_name.as_deref(), Some("Pruebas Bienestar"));
    assert_eq!(p.payer_account.as_deref(), Some("166180026480316602"));
    assert_eq!(p.payer_rfc.as_deref(), Some("GAJH931011I41"));
    assert_eq!(p.own_account.as_deref(), Some("723969000011000077"));
    assert_eq!(p.booked_on, day("2024-11-08"));
    let r = parse(&root, "cep/cep_spei_tercero_tipo_pago_05.xml", Format::Cep);
    assert_eq!(r[0].payer_account, None, "NA means absent");
    assert_eq!(r[0].amount.amount(), d("27529.89"));
    let r = parse(&root, "cep/cep_spei_tercero_tipo_pago_11.xml", Format::Cep);
    assert_eq!(r[0].amount.amount(), d("9858.7"));
    assert_eq!(
        r[0].concepto.as_deref(),
        Some("CONCEPTO 11 PAGO 1 / CONCEPTO 11 PAGO 2")
    );
}
