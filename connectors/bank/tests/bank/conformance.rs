//! Conformance over every file of the shared corpus (except webhooks/), skipped when it is absent.

use crate::support::shared_bank;
use cuadra_bank::{detect_format, parse_statement, Format, ParseOptions};

#[test]
fn dump_all() {
    let Some(root) = shared_bank() else { return };
    for dir in ["camt052", "camt053", "camt054", "mt940", "ofx", "csv", "cep"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir)).unwrap().flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
        files.sort();
        for f in files {
            let bytes = std::fs::read(&f).unwrap();
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            let fmt = detect_format(&name, &bytes[..bytes.len().min(8192)]);
            let Some(fmt) = fmt.or(if dir == "csv" { Some(Format::Csv) } else { None }) else { println!("{dir}/{name}: UNDETECTED"); continue };
            match parse_statement(fmt, &bytes, &ParseOptions::default()) {
                Ok(p) => {
                    println!("{dir}/{name}: {fmt} {} entries, {} problems, {} dups", p.entries.len(), p.problems.len(), p.duplicates);
                    for pr in p.problems.iter().take(3) { println!("    PROBLEM {pr}"); }
                    if std::env::var("DUMP").is_ok() {
                        for e in p.entries.iter().take(4) { let r = &e.record; println!("    {} {} {} acct={:?} payer={:?}/{:?}/{:?} ref={:?} rastreo={:?} concepto={:?} st={:?}", r.external_id, r.booked_on, r.amount, r.own_account, r.payer_name, r.payer_account, r.payer_rfc, r.bank_reference, r.clave_rastreo, r.concepto.as_deref().map(|c| c.chars().take(60).collect::<String>()), r.status); }
                    }
                }
                Err(e) => println!("{dir}/{name}: {fmt} ERROR {e}"),
            }
        }
    }
}
