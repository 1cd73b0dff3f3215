//! Identities across overlapping statements and repeated imports.

use cuadra_bank::{parse_statement, Format, ParseOptions, Parsed};
use std::collections::BTreeSet;

/// Three payments a day, two of them identical on purpose (same payer, amount, text).
fn day_lines(day: u32) -> Vec<(String, String)> {
    vec![
        (
            format!("2403{day:02}C100,00NTRFNONREF"),
            "PAGO CLIENTE A".to_string(),
        ),
        (
            format!("2403{day:02}C100,00NTRFNONREF"),
            "PAGO CLIENTE A".to_string(),
        ),
        (
            format!("2403{day:02}C{day}50,25NTRFNONREF//B{day}"),
            format!("FACTURA {day}"),
        ),
    ]
}

fn mt940(days: std::ops::RangeInclusive<u32>) -> Vec<u8> {
    let mut s = String::new();
    for d in days {
        s.push_str(&format!(
            ":20:S{d}\r\n:25:012180001234567895\r\n:28C:{d}\r\n:60F:C2403{d:02}MXN0,00\r\n"
        ));
        for (l, t) in day_lines(d) {
            s.push_str(&format!(":61:{l}\r\n:86:{t}\r\n"));
        }
        s.push_str(&format!(":62F:C2403{d:02}MXN0,00\r\n"));
    }
    s.into_bytes()
}

fn camt(days: std::ops::RangeInclusive<u32>, with_refs: bool) -> Vec<u8> {
    let mut s = String::from(
        "<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\"><BkToCstmrStmt><GrpHdr><MsgId>M</MsgId></GrpHdr>",
    );
    for d in days {
        s.push_str("<Stmt><Acct><Id><Othr><Id>012180001234567895</Id></Othr></Id></Acct>");
        for (i, (_, t)) in day_lines(d).iter().enumerate() {
            let r = if with_refs {
                format!("<AcctSvcrRef>R{d}-{i}</AcctSvcrRef>")
            } else {
                String::new()
            };
            s.push_str(&format!(
                "<Ntry><Amt Ccy=\"MXN\">100.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>\
                 <BookgDt><Dt>2024-03-{d:02}</Dt></BookgDt>{r}<NtryDtls><TxDtls><RmtInf><Ustrd>{t}</Ustrd></RmtInf>\
                 </TxDtls></NtryDtls></Ntry>"
            ));
        }
        s.push_str("</Stmt>");
    }
    s.push_str("</BkToCstmrStmt></Document>");
    s.into_bytes()
}

fn ids(p: &Parsed) -> BTreeSet<String> {
    p.entries
        .iter()
        .map(|e| e.record.external_id.clone())
        .collect()
}

fn parse(f: Format, b: &[u8]) -> Parsed {
    parse_statement(f, b, &ParseOptions::default()).expect("parses")
}

#[test]
fn overlapping_mt940_statements_share_ids() {
    let a = parse(Format::Mt940, &mt940(1..=3));
    let b = parse(Format::Mt940, &mt940(2..=4));
    assert_eq!(a.entries.len(), 9);
    assert_eq!(
        ids(&a).len(),
        9,
        "identical same-day payments stay distinct"
    );
    let common: BTreeSet<_> = ids(&a).intersection(&ids(&b)).cloned().collect();
    assert_eq!(common.len(), 6, "days 2 and 3 are the same transactions");
    let union: BTreeSet<_> = ids(&a).union(&ids(&b)).cloned().collect();
    assert_eq!(
        union.len(),
        12,
        "4 days × 3 payments, nothing counted twice"
    );
    assert_eq!(
        ids(&a),
        ids(&parse(Format::Mt940, &mt940(1..=3))),
        "same file twice → same ids"
    );
}

#[test]
fn overlapping_camt_with_and_without_bank_refs() {
    for refs in [true, false] {
        let a = parse(Format::Camt053, &camt(1..=3, refs));
        let b = parse(Format::Camt053, &camt(3..=5, refs));
        let common: BTreeSet<_> = ids(&a).intersection(&ids(&b)).cloned().collect();
        assert_eq!(common.len(), 3, "refs={refs}");
        assert_eq!(ids(&a).len(), 9, "refs={refs}");
    }
}

#[test]
fn the_same_statement_twice_in_one_file_is_delivered_once() {
    let mut one = camt(1..=2, false);
    // Repeat day 2's statement inside the same document.
    let twice = String::from_utf8(camt(2..=2, false)).expect("utf8");
    let stmt_start = twice.find("<Stmt>").expect("stmt");
    let stmt_end = twice.rfind("</Stmt>").expect("stmt") + "</Stmt>".len();
    let at = one.len() - "</BkToCstmrStmt></Document>".len();
    one.splice(at..at, twice[stmt_start..stmt_end].bytes());
    let p = parse(Format::Camt053, &one);
    assert_eq!(p.entries.len(), 6);
    assert_eq!(p.duplicates, 3);
}

/// Two pages of one MT940 statement (the second's `:60M:` is the first's `:62M:`), each with two identical
/// unreferenced 20,000.00 credits on the same day; `second_opening` replaces the second page's opening balance.
fn two_pages(second_opening: &str, closing: &str) -> Vec<u8> {
    format!(
        ":20:STARTUMS\r\n:25:1222333444\r\n:28:1/1\r\n:60F:C020315DEM0,00\r\n\
         :61:020322CM20000,00S051\r\n:61:020322CM20000,00S051\r\n:62M:C02031540000,00\r\n\
         :20:STARTUMS\r\n:25:1222333444\r\n:28:1/1\r\n:60M:C020315DEM{second_opening}\r\n\
         :61:020322CM20000,00S051\r\n:61:020322CM20000,00S051\r\n:62F:C020315{closing}\r\n"
    )
    .into_bytes()
}

#[test]
fn a_continuation_with_identical_entries_keeps_every_entry() {
    let p = parse(Format::Mt940, &two_pages("40000,00", "80000,00"));
    assert_eq!(
        p.entries.len(),
        4,
        "the second page's credits are new money"
    );
    assert_eq!(p.duplicates, 0);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    // Idempotent: the same file again gives the same ids.
    assert_eq!(
        ids(&p),
        ids(&parse(Format::Mt940, &two_pages("40000,00", "80000,00")))
    );
}

#[test]
fn an_overlap_is_still_one_transaction_and_bad_sums_are_warned() {
    // The second page starts at the first page's opening balance: it repeats the first page.
    let p = parse(Format::Mt940, &two_pages("0,00", "40000,00"));
    assert_eq!(p.entries.len(), 2);
    assert_eq!(p.duplicates, 2);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    // Entries that do not add up: a warning naming the statement, the line and the closing balance field,
    // and the identities fall back to the overlap rule (nothing is invented).
    let p = parse(Format::Mt940, &two_pages("40000,00", "90000,00"));
    assert_eq!(p.entries.len(), 2);
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    let w = &p.warnings[0];
    assert_eq!(w.kind, cuadra_bank::model::WarningKind::BalanceMismatch);
    assert!(w.is_conflict());
    assert_eq!(w.location.line, Some(8));
    assert_eq!(w.location.field.as_deref(), Some(":62F:"));
    assert!(w.message.contains("difference 10000"), "{}", w.message);
}

#[test]
fn an_mt940_without_closing_balance_is_a_warning() {
    let mut b = two_pages("40000,00", "80000,00");
    let cut = b.len() - ":62F:C02031580000,00\r\n".len();
    b.truncate(cut);
    let p = parse(Format::Mt940, &b);
    assert_eq!(
        p.entries.len(),
        2,
        "cannot tell a continuation without the balance"
    );
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    assert_eq!(
        p.warnings[0].kind,
        cuadra_bank::model::WarningKind::MissingBalance
    );
    assert!(p.warnings[0].message.contains("no closing balance"));
}

#[test]
fn shared_raphaelm_continuation_imports_every_credit() {
    let Some(root) = crate::support::shared_bank() else {
        return;
    };
    let bytes = std::fs::read(root.join("mt940/raphaelm.sta")).expect("fixture");
    let p = parse(Format::Mt940, &bytes);
    let credits: Vec<_> = p
        .entries
        .iter()
        .filter(|e| e.record.amount.amount().is_sign_positive())
        .collect();
    assert_eq!(credits.len(), 8, "{:?}", p.warnings);
    let total: rust_decimal::Decimal = credits.iter().map(|e| e.record.amount.amount()).sum();
    assert_eq!(total, rust_decimal::Decimal::from(145_000));
    assert_eq!(p.duplicates, 0);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

/// A camt.053 with two statements of one account, each with two identical unreferenced credits on the same day;
/// the second statement's opening balance is `second_opening`.
fn camt_pages(second_opening: &str) -> Vec<u8> {
    let bal = |code: &str, amt: &str| {
        format!(
            "<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy=\"MXN\">{amt}</Amt>\
             <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2024-03-05</Dt></Dt></Bal>"
        )
    };
    let ntry = "<Ntry><Amt Ccy=\"MXN\">100.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>\
                <BookgDt><Dt>2024-03-05</Dt></BookgDt><NtryDtls><TxDtls><RmtInf><Ustrd>PAGO</Ustrd></RmtInf>\
                </TxDtls></NtryDtls></Ntry>";
    let stmt = |id: &str, open: &str, close: &str| {
        format!(
            "<Stmt><Id>{id}</Id><Acct><Id><Othr><Id>012180001234567895</Id></Othr></Id></Acct>{}{}{ntry}{ntry}</Stmt>",
            bal("OPBD", open),
            bal("CLBD", close)
        )
    };
    let closing2 = (second_opening.parse::<f64>().unwrap_or(0.0) + 200.0).to_string();
    format!(
        "<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\"><BkToCstmrStmt><GrpHdr><MsgId>M</MsgId>\
         </GrpHdr>{}{}</BkToCstmrStmt></Document>",
        stmt("S1", "0.00", "200.00"),
        stmt("S2", second_opening, &format!("{closing2}.00"))
    )
    .into_bytes()
}

#[test]
fn camt_continuation_and_overlap_by_balances() {
    let p = parse(Format::Camt053, &camt_pages("200.00"));
    assert_eq!(p.entries.len(), 4, "continuation: {:?}", p.warnings);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let p = parse(Format::Camt053, &camt_pages("0.00"));
    assert_eq!(p.entries.len(), 2, "the second statement repeats the first");
    assert_eq!(p.duplicates, 2);
}

#[test]
fn a_statement_numbered_before_the_previous_one_does_not_continue_it() {
    // Page 2 then page 1 of the same day (out of order): balances chain by coincidence of the figures below
    // (page "2" opens at 40,000.00 where page "1" closes), but its number goes backwards.
    let b = String::from_utf8(two_pages("40000,00", "80000,00"))
        .expect("utf8")
        .replacen(":28:1/1", ":28C:7/2", 1)
        .replacen(":28:1/1", ":28C:7/1", 1)
        .into_bytes();
    let p = parse(Format::Mt940, &b);
    assert_eq!(
        p.entries.len(),
        2,
        "not a continuation: the overlap rule holds"
    );
    assert_eq!(p.duplicates, 2);
    // In order, the same pages continue.
    let b = String::from_utf8(two_pages("40000,00", "80000,00"))
        .expect("utf8")
        .replacen(":28:1/1", ":28C:7/1", 1)
        .replacen(":28:1/1", ":28C:7/2", 1)
        .into_bytes();
    assert_eq!(parse(Format::Mt940, &b).entries.len(), 4);
}

#[test]
fn a_next_day_continuation_gets_the_ids_it_would_get_alone() {
    let stmt = |n: u32, day: u32, open: u32| {
        format!(
            ":20:D{day}\r\n:25:1222333444\r\n:28C:{n}/1\r\n:60F:C2403{:02}MXN{open},00\r\n\
             :61:2403{day:02}C100,00NTRFNONREF\r\n:86:PAGO\r\n:61:2403{day:02}C100,00NTRFNONREF\r\n:86:PAGO\r\n\
             :62F:C2403{day:02}MXN{},00\r\n",
            day - 1,
            open + 200
        )
    };
    let both = format!("{}{}", stmt(1, 5, 0), stmt(2, 6, 200));
    let p = parse(Format::Mt940, both.as_bytes());
    assert_eq!(p.entries.len(), 4);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let alone = parse(Format::Mt940, stmt(2, 6, 200).as_bytes());
    let day6: BTreeSet<_> = ids(&p)
        .into_iter()
        .filter(|id| ids(&alone).contains(id))
        .collect();
    assert_eq!(
        day6.len(),
        2,
        "the second day's ids do not depend on the first day being in the file"
    );
}
