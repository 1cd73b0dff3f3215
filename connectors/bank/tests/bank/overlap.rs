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
