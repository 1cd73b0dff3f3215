//! Bank statements end to end: `cuadra import statement` (camt.053, MT940, OFX, CSV, `--format auto`,
//! `--account NAME`) and the inbox folder, read back with `cuadra report payments`; overlapping statements and
//! re-imports; bad files; and, when `../shared/fixtures/bank` is present, the whole real-world corpus through the
//! same import pipeline. Every test runs on each backend from `backends()`.

use super::helpers::{backends, build_app, config_path, cuadra, eventually, fresh_db, spawn_app};
use super::helpers::{test_settings, Backend, TestDb};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The company's own account in every generated statement (a valid CLABE).
const OWN: &str = "012180001234567895";
/// The account `--account bbva` binds (a second valid CLABE).
const BOUND: &str = "646180157000000004";

fn accounts_toml() -> String {
    format!(
        "[accounts.bbva]\nnumber = \"{BOUND}\"\ncurrency = \"MXN\"\n\
         [accounts.banorte]\nnumber = \"{OWN}\"\ncurrency = \"MXN\"\n"
    )
}

/// A fresh database with a config file naming two accounts.
async fn setup(b: Backend) -> (TestDb, PathBuf) {
    let db = fresh_db(b).await;
    let _ = test_settings(&db, &accounts_toml());
    let cfg = config_path(&db);
    (db, cfg)
}

fn run(db: &TestDb, cfg: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--config", cfg.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    cuadra(db.dir.path(), &all)
}

fn import(db: &TestDb, cfg: &Path, files: &[&Path], extra: &[&str]) -> std::process::Output {
    let mut args: Vec<&str> = vec!["import", "statement"];
    args.extend(files.iter().map(|p| p.to_str().expect("utf-8 path")));
    args.extend_from_slice(extra);
    run(db, cfg, &args)
}

fn ok(o: &std::process::Output) {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `cuadra report payments --format json` as rows of strings.
fn payments(db: &TestDb, cfg: &Path) -> Vec<Value> {
    let o = run(db, cfg, &["report", "payments", "--format", "json"]);
    ok(&o);
    serde_json::from_slice::<Vec<Value>>(&o.stdout).expect("payments JSON")
}

fn find<'a>(rows: &'a [Value], amount: &str) -> &'a Value {
    let hits: Vec<&Value> = rows.iter().filter(|r| r["amount"] == amount).collect();
    assert_eq!(hits.len(), 1, "one payment of {amount} in {rows:#?}");
    hits[0]
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write statement");
    p
}

/// One credit with everything a Mexican bank tells about its payer.
struct Credit {
    day: u32,
    amount: &'static str,
    name: &'static str,
    rfc: &'static str,
    clabe: &'static str,
    text: &'static str,
}

const CAMT_CREDITS: &[Credit] = &[
    Credit {
        day: 4,
        amount: "11600.00",
        name: "Comercializadora Ejemplo SA de CV",
        rfc: "EKU9003173C9",
        clabe: "072691004495711499",
        text: "PAGO FACTURA A-1001 REF 1234567",
    },
    Credit {
        day: 5,
        amount: "2320.35",
        name: "Juan Perez Lopez",
        rfc: "PEJJ800101AB1",
        clabe: "002180700000000001",
        text: "FACTURA B-77",
    },
];

/// camt.053.001.08 with one statement per day in `days`; entries carry `AcctSvcrRef`.
fn camt053(days: std::ops::RangeInclusive<u32>) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08\">\
         <BkToCstmrStmt><GrpHdr><MsgId>GEN</MsgId><CreDtTm>2024-11-30T20:00:00-06:00</CreDtTm></GrpHdr>\n",
    );
    for d in days {
        s.push_str(&format!(
            "<Stmt><Id>S{d}</Id><Acct><Id><Othr><Id>{OWN}</Id></Othr></Id><Ccy>MXN</Ccy></Acct>\n"
        ));
        for (i, c) in CAMT_CREDITS.iter().enumerate().filter(|(_, c)| c.day == d) {
            s.push_str(&format!(
                "<Ntry><Amt Ccy=\"MXN\">{amt}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>\
                 <BookgDt><Dt>2024-11-{d:02}</Dt></BookgDt><ValDt><Dt>2024-11-{d:02}</Dt></ValDt>\
                 <AcctSvcrRef>BNK-{d}-{i}</AcctSvcrRef><NtryDtls><TxDtls><Amt Ccy=\"MXN\">{amt}</Amt><CdtDbtInd>CRDT</CdtDbtInd>\
                 <RltdPties><Dbtr><Pty><Nm>{name}</Nm><Id><OrgId><Othr><Id>{rfc}</Id></Othr></OrgId></Id></Pty></Dbtr>\
                 <DbtrAcct><Id><Othr><Id>{clabe}</Id></Othr></Id></DbtrAcct></RltdPties>\
                 <RmtInf><Ustrd>{text}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>\n",
                amt = c.amount,
                name = c.name,
                rfc = c.rfc,
                clabe = c.clabe,
                text = c.text,
            ));
        }
        // A debit every day: kept raw, not a receivable.
        s.push_str(&format!(
            "<Ntry><Amt Ccy=\"MXN\">7.50</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>\
             <BookgDt><Dt>2024-11-{d:02}</Dt></BookgDt><AcctSvcrRef>FEE-{d}</AcctSvcrRef></Ntry>\n</Stmt>\n"
        ));
    }
    s.push_str("</BkToCstmrStmt></Document>\n");
    s
}

/// MT940 with one statement per day: a credit with German-style `?` subfields naming the payer, and a fee.
fn mt940(days: std::ops::RangeInclusive<u32>, account: Option<&str>) -> String {
    let mut s = String::new();
    for d in days {
        let acct = account.unwrap_or("NOACCOUNT");
        s.push_str(&format!(
            ":20:STMT{d}\r\n:25:{acct}\r\n:28C:{d}/1\r\n:60F:C2403{d:02}MXN1000,00\r\n\
             :61:2403{d:02}C{d}00,25NTRFNONREF//B{d}\r\n\
             :86:166?00SPEI RECIBIDO?20PAGO FACTURA M-{d}?21 REF NUM 765432{d}?31072691004495711499?32CLIENTE MT NUMERO {d}\r\n\
             :61:2403{d:02}D3,50NMSCNONREF\r\n:86:COMISION\r\n:62F:C2403{d:02}MXN1000,00\r\n-\r\n"
        ));
    }
    s
}

fn ofx() -> String {
    format!(
        "OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\nSECURITY:NONE\nENCODING:USASCII\nCHARSET:1252\nCOMPRESSION:NONE\n\
         OLDFILEUID:NONE\nNEWFILEUID:NONE\n\n<OFX><BANKMSGSRSV1><STMTTRNRS><TRNUID>1<STATUS><CODE>0<SEVERITY>INFO</STATUS>\n\
         <STMTRS><CURDEF>MXN<BANKACCTFROM><BANKID>012<ACCTID>{OWN}<ACCTTYPE>CHECKING</BANKACCTFROM>\n\
         <BANKTRANLIST><DTSTART>20241101<DTEND>20241130\n\
         <STMTTRN><TRNTYPE>CREDIT<DTPOSTED>20241112<TRNAMT>4500.10<FITID>OFX-1<REFNUM>REF-OFX-1<NAME>Distribuidora Norte<MEMO>PAGO FACTURA C-5</STMTTRN>\n\
         <STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20241112<TRNAMT>-12.00<FITID>OFX-2<NAME>COMISION</STMTTRN>\n\
         </BANKTRANLIST><LEDGERBAL><BALAMT>4488.10<DTASOF>20241130</LEDGERBAL></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>\n"
    )
}

/// The `mx-normalizado` CSV preset: a SPEI credit with clave de rastreo and referencia, a fee, a cash deposit.
fn csv() -> String {
    format!(
        "CUENTA,FECHA,DESCRIPCIÓN,CONCEPTO,REFERENCIA,REFERENCIA BANCARIA,BENEFICIARIO,CARGO,ABONO,SALDO\n\
         {OWN},15/11/2024,SPEI RECIBIDO CLAVE DE RASTREO MBAN01002412260074384299,PAGO FACTURA D-9,7654321,BB001,COMERCIALIZADORA CSV,,\"8,700.00\",\"9,700.00\"\n\
         {OWN},15/11/2024,COMISION SPEI,,,BB002,,7.50,,\"9,692.50\"\n\
         {OWN},16/11/2024,DEPOSITO EN EFECTIVO,,,BB003,,,333.33,\"10,025.83\"\n"
    )
}

#[tokio::test]
async fn every_format_imports_with_payer_data() {
    for b in backends().await {
        let (db, cfg) = setup(b).await;
        let dir = db.dir.path().to_path_buf();
        let files = [
            write(&dir, "estado.xml", camt053(4..=5)),
            write(&dir, "estado.sta", mt940(1..=1, Some(OWN))),
            write(&dir, "estado.ofx", ofx()),
            write(&dir, "estado.csv", csv()),
        ];
        let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
        let o = import(&db, &cfg, &refs, &["--format", "auto"]);
        ok(&o);
        let rows = payments(&db, &cfg);
        // Credits only: 2 camt + 1 MT940 + 1 OFX + 2 CSV.
        assert_eq!(rows.len(), 6, "{b:?}: {rows:#?}");
        let camt = find(&rows, "11600.00");
        assert_eq!(camt["date"], "2024-11-04");
        assert_eq!(camt["currency"], "MXN");
        assert_eq!(camt["payer_name"], "Comercializadora Ejemplo SA de CV");
        assert_eq!(camt["payer_rfc"], "EKU9003173C9");
        assert_eq!(camt["payer_account"], "072691004495711499");
        assert_eq!(camt["unallocated"], "11600.00");
        let camt2 = find(&rows, "2320.35");
        assert_eq!(camt2["payer_rfc"], "PEJJ800101AB1");
        let mt = find(&rows, "100.25");
        assert_eq!(mt["date"], "2024-03-01");
        assert_eq!(mt["payer_name"], "CLIENTE MT NUMERO 1");
        assert_eq!(mt["payer_account"], "072691004495711499");
        let ofx = find(&rows, "4500.10");
        assert_eq!(ofx["date"], "2024-11-12");
        assert_eq!(ofx["payer_name"], "Distribuidora Norte");
        let csv = find(&rows, "8700.00");
        assert_eq!(csv["date"], "2024-11-15");
        assert_eq!(csv["payer_name"], "COMERCIALIZADORA CSV");
        // The REFERENCIA column is the referencia numérica, which `reference` shows first; the clave de rastreo
        // is read from the description.
        assert_eq!(csv["reference"], "7654321", "referencia numérica");
        let store = cuadra::store::Store::connect(&db.url, 1).await.unwrap();
        let clave: Option<String> = sqlx::query_scalar(
            "SELECT clave_rastreo FROM payments WHERE amount_micros = 8700000000",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!(
            clave.as_deref(),
            Some("MBAN01002412260074384299"),
            "clave de rastreo from the description"
        );
        store.close().await;
        find(&rows, "333.33");
        // Debits are kept in the ledger but are not receivables.
        let app = build_app(&db, &accounts_toml()).await;
        let all = app.store.count("payments").await.unwrap();
        assert_eq!(all, 6 + 2 + 1 + 1 + 1, "{b:?}: credits and debits stored");
        // Each explicit format reads its file the same way; nothing new appears.
        for (f, fmt) in files.iter().zip(["camt053", "mt940", "ofx", "csv"]) {
            ok(&import(&db, &cfg, &[f], &["--format", fmt]));
        }
        assert_eq!(app.store.count("payments").await.unwrap(), all, "{b:?}");
        app.store.close().await;
    }
}

#[tokio::test]
async fn overlapping_statements_and_reimports_give_one_payment_each() {
    for b in backends().await {
        let (db, cfg) = setup(b).await;
        let dir = db.dir.path().to_path_buf();
        let a = write(&dir, "marzo_1_3.sta", mt940(1..=3, Some(OWN)));
        let c = write(&dir, "marzo_2_4.sta", mt940(2..=4, Some(OWN)));
        ok(&import(&db, &cfg, &[&a], &[]));
        assert_eq!(payments(&db, &cfg).len(), 3, "{b:?}");
        ok(&import(&db, &cfg, &[&c], &[]));
        assert_eq!(payments(&db, &cfg).len(), 4, "{b:?}: days 2 and 3 overlap");
        // camt: one file for days 4..5, another for day 5 only.
        let x = write(&dir, "nov_4_5.xml", camt053(4..=5));
        let y = write(&dir, "nov_5.xml", camt053(5..=5));
        ok(&import(&db, &cfg, &[&x, &y], &[]));
        assert_eq!(payments(&db, &cfg).len(), 6, "{b:?}");
        let app = build_app(&db, &accounts_toml()).await;
        let (all, raw) = (
            app.store.count("payments").await.unwrap(),
            app.store.count("raw_inbox").await.unwrap(),
        );
        assert_eq!(all, 4 * 2 + 2 * 2, "{b:?}: credits and fees, once each");
        // Everything again, in another order: nothing changes.
        let o = import(&db, &cfg, &[&y, &c, &x, &a], &[]);
        ok(&o);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("unchanged"), "{out}");
        assert_eq!(app.store.count("payments").await.unwrap(), all, "{b:?}");
        assert_eq!(app.store.count("raw_inbox").await.unwrap(), raw, "{b:?}");
        assert_eq!(payments(&db, &cfg).len(), 6, "{b:?}");
        app.store.close().await;
    }
}

#[tokio::test]
async fn account_flag_binds_the_configured_account() {
    for b in backends().await {
        let (db, cfg) = setup(b).await;
        let dir = db.dir.path().to_path_buf();
        // An MT940 whose :25: names no usable account.
        let f = write(&dir, "sin_cuenta.sta", mt940(7..=7, None));
        ok(&import(&db, &cfg, &[&f], &["--account", "bbva"]));
        let app = build_app(&db, &accounts_toml()).await;
        let own: Vec<Option<String>> =
            sqlx::query_scalar("SELECT own_account FROM payments ORDER BY id")
                .fetch_all(app.store.pool())
                .await
                .unwrap();
        assert_eq!(own.len(), 2, "{b:?}");
        for o in &own {
            assert_eq!(
                o.as_deref(),
                Some(BOUND),
                "{b:?}: --account bbva binds {BOUND}"
            );
        }
        // An account that is not configured is bad usage, and nothing is read.
        let o = import(&db, &cfg, &[&f], &["--account", "nadie"]);
        assert_eq!(o.status.code(), Some(2));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("accounts.nadie"),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(app.store.count("payments").await.unwrap(), 2, "{b:?}");
        app.store.close().await;
    }
}

#[tokio::test]
async fn a_bad_file_exits_2_naming_file_and_line_and_stores_nothing() {
    for b in backends().await {
        let (db, cfg) = setup(b).await;
        let dir = db.dir.path().to_path_buf();
        // Its only :61: line has no amount: nothing in it can be read.
        let broken =
            ":20:STMT1\r\n:25:012180001234567895\r\n:28C:1/1\r\n:60F:C240301MXN1000,00\r\n\
                      :61:240301CXYZNTRFNONREF\r\n:86:PAGO\r\n:62F:C240301MXN1000,00\r\n-\r\n";
        let f = write(&dir, "roto.sta", broken);
        let o = import(&db, &cfg, &[&f], &[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{b:?}: {err}");
        assert!(err.contains("roto.sta") && err.contains("line 5"), "{err}");
        // Not a statement at all.
        let g = write(&dir, "nada.xml", "<html><body>hola</body></html>");
        let o = import(&db, &cfg, &[&g], &["--format", "camt053"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{b:?}: {err}");
        assert!(err.contains("nada.xml"), "{err}");
        let o = import(&db, &cfg, &[&dir.join("no-such-file.sta")], &[]);
        assert_eq!(o.status.code(), Some(2));
        let app = build_app(&db, &accounts_toml()).await;
        assert_eq!(app.store.count("raw_inbox").await.unwrap(), 0, "{b:?}");
        assert_eq!(app.store.count("payments").await.unwrap(), 0, "{b:?}");
        // One bad entry among good ones: named with its line and skipped, the rest is kept, exit 2.
        let partly = mt940(1..=1, Some(OWN)).replace(":61:240301D3,50NMSCNONREF", ":61:240301DXYZ");
        let f = write(&dir, "parcial.sta", &partly);
        let o = import(&db, &cfg, &[&f], &[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{b:?}: {err}");
        assert!(
            err.contains("parcial.sta") && err.contains("line 7"),
            "{err}"
        );
        assert_eq!(app.store.count("payments").await.unwrap(), 1, "{b:?}");
        app.store.close().await;
    }
}

#[tokio::test]
async fn the_inbox_folder_imports_a_statement() {
    for b in backends().await {
        let t = spawn_app(b, &accounts_toml()).await;
        let inbox = t.inbox();
        std::fs::create_dir_all(&inbox).unwrap();
        // Written under a temporary name and renamed, as a careful uploader does.
        let tmp = inbox.join("estado.xml.part");
        std::fs::write(&tmp, camt053(4..=5)).unwrap();
        std::fs::rename(&tmp, inbox.join("estado.xml")).unwrap();
        std::fs::write(inbox.join("estado.ofx"), ofx()).unwrap();
        let done = [inbox.join("done/estado.xml"), inbox.join("done/estado.ofx")];
        assert!(
            eventually(20, || async { done.iter().all(|d| d.exists()) }).await,
            "{b:?}: statements were not moved to done/ (failed/: {:?})",
            std::fs::read_dir(inbox.join("failed"))
                .map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
                .ok()
        );
        let table = t.app.store.report_payments().await.unwrap();
        let amounts: Vec<&str> = table.rows.iter().map(|r| r[5].as_str()).collect();
        assert_eq!(amounts.len(), 3, "{b:?}: {amounts:?}");
        for a in ["11600.00", "2320.35", "4500.10"] {
            assert!(amounts.contains(&a), "{b:?}: {a} in {amounts:?}");
        }
        t.stop().await;
    }
}

// ---- The shared real-world corpus -------------------------------------------------------------------------

/// Files of `../shared/fixtures/bank` that the bank crate refuses as a whole (its conformance suite's list).
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

fn shared_bank() -> Option<PathBuf> {
    let root = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/bank"
    ));
    if root.is_dir() {
        Some(root)
    } else {
        eprintln!("SKIP shared bank corpus: {} not found", root.display());
        None
    }
}

#[tokio::test]
async fn shared_corpus_imports_with_the_expected_outcome() {
    let Some(root) = shared_bank() else { return };
    for b in backends().await {
        let db = fresh_db(b).await;
        let app = build_app(&db, "").await;
        let importer = cuadra::registry::file_importer(&app.settings, "statement")
            .expect("statement importer");
        let mut refused = std::collections::BTreeSet::new();
        let mut total = 0;
        for dir in [
            "camt052", "camt053", "camt054", "mt940", "ofx", "csv", "cep",
        ] {
            let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
                .expect("corpus folder")
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            for f in files {
                total += 1;
                let rel = format!("{dir}/{}", f.file_name().unwrap().to_string_lossy());
                let opts = cuadra_sdk::ImportOptions {
                    format: (dir == "csv").then(|| "csv".to_string()),
                    account: None,
                };
                let before = app.store.count("raw_inbox").await.unwrap();
                let s = cuadra::import::import_paths(
                    &app.store,
                    importer.clone(),
                    std::slice::from_ref(&f),
                    &opts,
                    "import",
                )
                .await
                .unwrap_or_else(|e| panic!("{b:?} {rel}: {e:#}"));
                let stored = app.store.count("raw_inbox").await.unwrap() - before;
                if stored == 0 && !s.errors.is_empty() {
                    let name = f.display().to_string();
                    assert!(
                        s.errors.iter().all(|e| e.contains(&name)),
                        "{rel}: errors name the file: {:?}",
                        s.errors
                    );
                    refused.insert(rel);
                } else {
                    assert!(stored > 0, "{b:?} {rel}: accepted but nothing stored");
                }
            }
        }
        let expected: std::collections::BTreeSet<String> =
            MUST_FAIL.iter().map(|s| s.to_string()).collect();
        assert_eq!(refused, expected, "{b:?}: refused vs. expected refusals");
        assert!(total >= 186, "corpus smaller than expected: {total}");
        // Spot checks in the ledger.
        let row = |sql: &'static str| {
            let pool = app.store.pool().clone();
            async move {
                sqlx::query_as::<_, (String, i64, Option<String>)>(sql)
                    .fetch_all(&pool)
                    .await
                    .unwrap()
            }
        };
        let r = row("SELECT booked_on, amount_micros, payer_name FROM payments WHERE external_id = 'fitid:14526877:0000487'").await;
        assert_eq!(
            r,
            vec![(
                "2011-04-05".into(),
                -34_510_000,
                Some("AUTOMATIC WITHDRAWAL, ELECTRIC BILL".into())
            )],
            "{b:?} ofxparse_checking"
        );
        let r = row("SELECT booked_on, amount_micros, payer_name FROM payments WHERE amount_micros = 169900000 AND payer_name = 'Bedrijf B.V.'").await;
        assert_eq!(r.len(), 1, "{b:?} rabobank_nl_php_3 credit of 169,90");
        // PayPal activity (EN, day-first dates); the three PayPal samples reuse the ids TID1.. for different
        // transactions, so the first file imported keeps them (the others are kept raw only).
        let r = row("SELECT booked_on, amount_micros, payer_name FROM payments WHERE external_id = 'row::TID1'").await;
        assert_eq!(
            r,
            vec![("2015-12-29".into(), 84_000_000, Some("PARTNER1".into()))],
            "{b:?} paypal activity TID1"
        );
        // A Banxico CEP: payer name, RFC and CLABE.
        let r = sqlx::query_as::<_, (String, i64, String, String)>(
            "SELECT booked_on, amount_micros, payer_rfc, payer_account FROM payments \
             WHERE external_id = 'rastreo:20241108:HSBC:RASPEIOAT202411081015742432'",
        )
        .fetch_all(app.store.pool())
        .await
        .unwrap();
        assert_eq!(
            r,
            vec![(
                "2024-11-08".into(),
                17_187_230_000,
                "MOMC881218TX0".into(),
                "021180043534353354".into()
            )],
            "{b:?} CEP"
        );
        let r = row("SELECT booked_on, amount_micros, payer_name FROM payments WHERE external_id = 'uetr:255ae394-9965-4438-ac86-f406feada396'").await;
        assert_eq!(r.len(), 1, "{b:?} camt.054 UETR");
        assert_eq!(r[0].1, -200_000_000_000, "{b:?} camt.054 UETR amount");
        // Importing the whole corpus again changes nothing.
        let (p, raw) = (
            app.store.count("payments").await.unwrap(),
            app.store.count("raw_inbox").await.unwrap(),
        );
        for dir in ["camt053", "mt940", "ofx"] {
            let _ = cuadra::import::import_paths(
                &app.store,
                importer.clone(),
                &[root.join(dir)],
                &cuadra_sdk::ImportOptions::default(),
                "import",
            )
            .await
            .unwrap();
        }
        assert_eq!(app.store.count("payments").await.unwrap(), p, "{b:?}");
        assert_eq!(app.store.count("raw_inbox").await.unwrap(), raw, "{b:?}");
        app.store.close().await;
    }
}

/// `kind = "statements"`: a watched folder bound to an account; each file is read once.
#[tokio::test]
async fn statements_connector_reads_a_drop_folder_once() {
    for b in super::helpers::backends().await {
        let db = super::helpers::fresh_db(b).await;
        let drop = db.dir.path().join("drop");
        std::fs::create_dir_all(&drop).unwrap();
        let extra = format!(
            "[accounts.bbva]\nnumber = \"012180001234567895\"\n[connectors.bank]\nkind = \"statements\"\npath = \"{}\"\naccount = \"bbva\"\n",
            drop.display()
        );
        let app = super::helpers::build_app(&db, &extra).await;
        let ofx = "OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\n\n<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>MXN<BANKACCTFROM><ACCTID>999<ACCTTYPE>CHECKING</BANKACCTFROM><BANKTRANLIST>\
<STMTTRN><TRNTYPE>CREDIT<DTPOSTED>20260110<TRNAMT>1160.00<FITID>F1<NAME>CLIENTE UNO<MEMO>FACTURA A-1</STMTTRN>\
</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>\n";
        std::fs::write(drop.join("2026-01-10.ofx"), ofx).unwrap();
        let conn = app.connector("bank").unwrap().clone();
        let r = cuadra::daemon::run_source_once(&app, &conn).await.unwrap();
        assert!(r.new >= 1, "{b:?}: {r:?}");
        let again = cuadra::daemon::run_source_once(&app, &conn).await.unwrap();
        assert_eq!(again.deliveries, 0, "{b:?}: a file is read once");
        let t = app.store.report_payments().await.unwrap();
        assert_eq!(t.rows.len(), 1, "{b:?}");
        let own: String = sqlx::query_scalar("SELECT own_account FROM payments")
            .fetch_one(app.store.pool())
            .await
            .unwrap();
        assert_eq!(
            own, "012180001234567895",
            "{b:?}: bound to the configured account"
        );
    }
}

/// Issue 18: a CSV row whose amount the ledger cannot hold exactly (beyond the i64 micro-unit range, more than six
/// decimals) is reported with the file and skipped; the other rows are stored and the exit code is 2 (before:
/// the whole import failed with exit 1 and nothing stored).
#[tokio::test]
async fn a_statement_row_with_an_unstorable_amount_is_skipped_and_the_rest_imports() {
    for b in backends().await {
        let (db, cfg) = setup(b).await;
        let body = format!(
            "CUENTA,FECHA,DESCRIPCIÓN,CONCEPTO,REFERENCIA,REFERENCIA BANCARIA,BENEFICIARIO,CARGO,ABONO,SALDO\n\
             {OWN},15/11/2024,DEPOSITO A,,,BB001,,,100.00,100.00\n\
             {OWN},15/11/2024,DEPOSITO B,,,BB002,,,99999999999999.99,100.00\n\
             {OWN},16/11/2024,DEPOSITO C,,,BB003,,,1.0000001,100.00\n\
             {OWN},16/11/2024,DEPOSITO D,,,BB004,,,200.00,300.00\n"
        );
        let file = write(db.dir.path(), "rango.csv", body);
        let o = import(&db, &cfg, &[&file], &[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{b:?}: {err}");
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 2, "{b:?}: {err}");
        assert!(
            errors.iter().all(|e| e.contains("rango.csv")),
            "{b:?}: {err}"
        );
        assert!(err.contains("out of the storable range"), "{b:?}: {err}");
        assert!(err.contains("more than 6 decimals"), "{b:?}: {err}");
        let rows = payments(&db, &cfg);
        find(&rows, "100.00");
        find(&rows, "200.00");
    }
}

/// A statement whose entries do not add up to its closing balance imports (exit 0), says so on stderr with the
/// file and the kind, and is kept once in `report conflicts`; one that adds up says nothing.
#[tokio::test]
async fn a_statement_that_does_not_add_up_is_imported_with_a_warning() {
    for b in backends().await {
        let (db, cfg) = setup(b).await;
        let dir = db.dir.path().to_path_buf();
        let statement = |closing: &str| {
            format!(
                ":20:STMT1\r\n:25:{OWN}\r\n:28C:1/1\r\n:60F:C240301MXN1000,00\r\n\
                 :61:240301C500,00NTRFNONREF//B1\r\n:86:PAGO FACTURA A-1\r\n:62F:C240301MXN{closing}\r\n-\r\n"
            )
        };
        let good = write(&dir, "cuadra.sta", statement("1500,00"));
        let o = import(&db, &cfg, &[&good], &[]);
        ok(&o);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("warning"), "{b:?}: {err}");
        let off = write(
            &dir,
            "descuadre.sta",
            statement("1400,00")
                .replace("STMT1", "STMT2")
                .replace("B1", "B2"),
        );
        let o = import(&db, &cfg, &[&off], &[]);
        ok(&o);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("warning: ")
                && err.contains("descuadre.sta")
                && err.contains("statement-balance"),
            "{b:?}: {err}"
        );
        // Kept for a person as a `statement-balance` row naming the file and the figures; importing the same
        // file again adds no second row.
        let o = import(&db, &cfg, &[&off], &[]);
        ok(&o);
        let app = build_app(&db, &accounts_toml()).await;
        assert_eq!(app.store.count("payments").await.unwrap(), 2, "{b:?}");
        let t = app.store.report_conflicts().await.unwrap();
        assert_eq!(t.rows.len(), 1, "{b:?}: {:?}", t.rows);
        let (kind, id, detail) = (&t.rows[0][1], &t.rows[0][2], &t.rows[0][3]);
        assert_eq!(kind, "statement-balance", "{b:?}");
        assert!(id.starts_with("descuadre.sta, line "), "{b:?}: {id}");
        assert!(
            detail.contains("descuadre.sta")
                && detail.contains("1500.00")
                && detail.contains("1400.00")
                && detail.contains("STMT2"),
            "{b:?}: {detail}"
        );
        app.store.close().await;
    }
}

/// The statements folder never reads more than `max_file_bytes` into memory: a larger file is refused once (and
/// not re-read while unchanged), the others in the folder are read; a limit of 0 is refused at load.
#[tokio::test]
async fn the_statements_folder_refuses_files_over_its_limit() {
    for b in backends().await {
        let db = fresh_db(b).await;
        let drop = db.dir.path().join("drop");
        std::fs::create_dir_all(&drop).unwrap();
        let table = |limit: u64| {
            format!(
                "[accounts.bbva]\nnumber = \"{OWN}\"\n[connectors.bank]\nkind = \"statements\"\npath = \"{}\"\n\
                 account = \"bbva\"\nmax_file_bytes = {limit}\n",
                drop.display()
            )
        };
        let small = mt940(1..=1, Some(OWN));
        let big = mt940(2..=9, Some(OWN));
        assert!(big.len() > small.len() + 64);
        std::fs::write(drop.join("a.sta"), &small).unwrap();
        std::fs::write(drop.join("b.sta"), &big).unwrap();
        let app = super::helpers::build_app(&db, &table(small.len() as u64 + 64)).await;
        let conn = app.connector("bank").unwrap().clone();
        let r = cuadra::daemon::run_source_once(&app, &conn).await.unwrap();
        assert!(r.new >= 1, "{b:?}: {r:?}");
        // Only a.sta (1 March) was read: nothing of b.sta (2-9 March) is stored.
        let t = app.store.report_payments().await.unwrap();
        let date = t.columns.iter().position(|c| *c == "date").unwrap();
        assert!(!t.rows.is_empty(), "{b:?}");
        assert!(
            t.rows.iter().all(|r| r[date] == "2024-03-01"),
            "{b:?}: {:?}",
            t.rows
        );
        let again = cuadra::daemon::run_source_once(&app, &conn).await.unwrap();
        assert_eq!(
            again.deliveries, 0,
            "{b:?}: the large file is not read again"
        );
        app.store.close().await;
        let settings = super::helpers::test_settings(&db, &table(0));
        let err = cuadra::registry::build_connectors(&settings)
            .err()
            .expect("refused");
        assert!(
            err.to_string().contains("connectors.bank.max_file_bytes"),
            "{err}"
        );
    }
}

/// `[import] statement_max_file_bytes` / `statement_max_field_bytes` bound `cuadra import statement` (and the
/// inbox, which reads with the same importer): a larger file is refused naming the file and the limit and nothing
/// of it is stored, a longer field is cut with a warning; 0 is refused at load, naming the key; the environment
/// sets them too.
#[tokio::test]
async fn import_statement_limits_come_from_the_import_keys() {
    for b in backends().await {
        let db = fresh_db(b).await;
        let dir = db.dir.path().to_path_buf();
        let small = mt940(1..=1, Some(OWN));
        let big = mt940(2..=9, Some(OWN));
        let limit = small.len() + 64;
        assert!(big.len() > limit);
        let _ = test_settings(
            &db,
            &format!(
                "{}[import]\nstatement_max_file_bytes = {limit}\n",
                accounts_toml()
            ),
        );
        let cfg = config_path(&db);
        let a = write(&dir, "a.sta", &small);
        let bb = write(&dir, "b.sta", &big);
        ok(&import(&db, &cfg, &[&a], &[]));
        let o = import(&db, &cfg, &[&bb], &[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{b:?}: {err}");
        assert!(
            err.contains("b.sta") && err.contains(&format!("limit of {limit}")),
            "{b:?}: {err}"
        );
        let rows = payments(&db, &cfg);
        assert!(
            rows.iter().all(|r| r["date"] == "2024-03-01"),
            "{b:?}: {rows:#?}"
        );
        // The same key from the environment: the big file passes, and a 10-byte field limit cuts the concepto.
        let mut args = vec!["--config", cfg.to_str().unwrap(), "import", "statement"];
        args.push(bb.to_str().unwrap());
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_cuadra"))
            .args(&args)
            .current_dir(&dir)
            .env("CUADRA__IMPORT__STATEMENT_MAX_FILE_BYTES", "1000000")
            .env("CUADRA__IMPORT__STATEMENT_MAX_FIELD_BYTES", "10")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{b:?}: {err}");
        assert!(
            err.contains("warning: ") && err.contains("b.sta"),
            "{b:?}: {err}"
        );
        assert!(payments(&db, &cfg).len() > rows.len(), "{b:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.toml");
    for key in ["statement_max_file_bytes", "statement_max_field_bytes"] {
        std::fs::write(&p, format!("[import]\n{key} = 0\n")).unwrap();
        let e = cuadra::config::Settings::load_with_env(Some(&p), Vec::<(String, String)>::new())
            .map(|_| ())
            .map_err(|e| format!("{e:#}"))
            .unwrap_err();
        assert!(e.contains(&format!("import.{key}")), "{e}");
    }
}
