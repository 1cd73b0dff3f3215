//! Issue 19, classes 1 and 2 on SQLite and PostgreSQL: a returned SPEI, a provider refund or chargeback undoes the
//! credit it names (its allocations removed with an audit entry and an `allocation.removed` event, the invoice
//! reopened; order-independent, idempotent, partial returns leave the rest usable), and a second payment citing
//! an invoice already paid is a `duplicate_payment` exception instead of landing on another invoice.

use super::helpers::{backends, config_path, cuadra, fresh_db, test_settings, Backend};
use chrono::NaiveDate;
use cuadra::reconcile::{self, Options};
use cuadra::store::Store;
use cuadra_sdk::*;
use sqlx::Row;

const ACME: &str = "AAA010101AAA";
const ACME_CLABE: &str = "012180001234567897";

fn customers() -> Delivery {
    Delivery {
        kind: "customers".into(),
        external_id: "customers.csv".into(),
        raw: b"customers returns".to_vec(),
        records: vec![super::reconcile::customer(
            ACME,
            "Acme Industrial, S.A. de C.V.",
            &[ACME_CLABE],
            None,
        )],
    }
}

/// Acme's invoice `n` (serie A), issued on 5 January 2026 in MXN.
fn invoice(n: u32, folio: &str, total: &str) -> Delivery {
    super::reconcile::invoice(n, "A", folio, ACME, total, Currency::MXN, 5)
}

/// A movement: bank unless `kind` says otherwise; `status` marks returns (`reversal`, `refunded`, ...).
#[derive(Default, Clone)]
struct Mv {
    id: &'static str,
    kind: Option<PaymentKind>,
    day: u32,
    amount: &'static str,
    concepto: Option<&'static str>,
    clave: Option<&'static str>,
    document_id: Option<&'static str>,
    status: Option<&'static str>,
    remittance: Vec<RemittanceLine>,
}

fn mv(m: Mv) -> Delivery {
    let kind = m.kind.unwrap_or(PaymentKind::Bank);
    Delivery {
        kind: format!("test-{}", kind.as_str()),
        external_id: m.id.into(),
        raw: format!("movement {}", m.id).into_bytes(),
        records: vec![Record::Payment(PaymentRecord {
            kind,
            external_id: m.id.into(),
            own_account: Some("012180009999999999".into()),
            booked_on: NaiveDate::from_ymd_opt(2026, 2, m.day).unwrap(),
            value_date: None,
            amount: Money::parse(m.amount, Currency::MXN).unwrap(),
            bank_reference: None,
            clave_rastreo: m.clave.map(String::from),
            payer_name: Some("ACME INDUSTRIAL".into()),
            payer_rfc: None,
            payer_account: (kind == PaymentKind::Bank).then(|| ACME_CLABE.to_string()),
            referencia_numerica: None,
            concepto: m.concepto.map(String::from),
            document_id: m.document_id.map(String::from),
            operation_number: None,
            remittance: m.remittance,
            customer_hint: None,
            status: m.status.map(String::from),
        })],
    }
}

async fn open_store(b: Backend) -> (Store, super::helpers::TestDb) {
    let db = fresh_db(b).await;
    let s = Store::open(&db.url, 4).await.expect("open store");
    (s, db)
}

async fn load(store: &Store, deliveries: &[Delivery]) {
    for d in deliveries {
        store
            .ingest("test", std::slice::from_ref(d), None)
            .await
            .expect("ingest");
    }
    store.link_documents().await.expect("link");
}

async fn run(store: &Store) -> reconcile::Summary {
    reconcile::run(store, &Options::default(), false)
        .await
        .expect("reconcile")
}

/// Live allocations as (payment external id, invoice serie-folio, amount).
async fn allocations(store: &Store) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = sqlx::query(
        "SELECT p.external_id, i.serie, i.folio, a.amount_micros FROM allocations a \
         JOIN payments p ON p.id = a.payment_id JOIN invoices i ON i.id = a.invoice_id WHERE a.removed_at IS NULL",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.get::<String, _>(0),
            format!("{}-{}", r.get::<String, _>(1), r.get::<String, _>(2)),
            cuadra::store::money(r.get::<i64, _>(3), "MXN"),
        )
    })
    .collect();
    out.sort();
    out
}

/// Exceptions as (payment external id, reason).
async fn exceptions(store: &Store) -> Vec<(String, String)> {
    let mut out: Vec<_> = sqlx::query(
        "SELECT p.external_id, e.reason FROM exceptions e JOIN payments p ON p.id = e.payment_id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
    .collect();
    out.sort();
    out
}

/// Reversals as (undoing movement, credit, amount).
async fn reversals(store: &Store) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = sqlx::query(
        "SELECT r.external_id, c.external_id, v.amount_micros FROM reversals v \
         JOIN payments r ON r.id = v.reversal_payment_id JOIN payments c ON c.id = v.payment_id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.get::<String, _>(0),
            r.get::<String, _>(1),
            cuadra::store::money(r.get::<i64, _>(2), "MXN"),
        )
    })
    .collect();
    out.sort();
    out
}

async fn payment_id(store: &Store, external: &str) -> i64 {
    sqlx::query("SELECT id FROM payments WHERE external_id = $1")
        .bind(external)
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get::<i64, _>(0)
}

/// (balance, status) of an invoice in `report invoices`.
async fn balance(store: &Store, serie_folio: &str) -> (String, String) {
    let t = store.report_invoices().await.unwrap();
    let r = t
        .rows
        .iter()
        .find(|r| format!("{}-{}", r[1], r[2]) == serie_folio)
        .expect("invoice in report");
    (r[11].clone(), r[12].clone())
}

fn credit(id: &'static str, day: u32, clave: &'static str) -> Delivery {
    mv(Mv {
        id,
        day,
        amount: "1160.00",
        concepto: Some("PAGO FACTURA A-1008"),
        clave: Some(clave),
        ..Default::default()
    })
}

fn spei_return(id: &'static str, day: u32, amount: &'static str, clave: &'static str) -> Delivery {
    mv(Mv {
        id,
        day,
        amount,
        concepto: Some("DEVOLUCION SPEI"),
        clave: Some(clave),
        status: Some("reversal"),
        ..Default::default()
    })
}

fn base() -> Vec<Delivery> {
    vec![
        customers(),
        invoice(1, "1008", "1160.00"),
        invoice(2, "1009", "1160.00"),
    ]
}

/// The issue's class 1: the credit citing A-1008 is returned days later by a debit with the same clave de
/// rastreo. Before: the debit never reached the engine, A-1008 stayed paid and the real payment that followed
/// became `no_amount_match`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returned_spei_removes_its_allocation_and_reopens_the_invoice() {
    for b in backends().await {
        let (s, _db) = open_store(b).await;
        load(&s, &base()).await;
        load(&s, &[credit("cr-1", 2, "MBAN01002602020000000001")]).await;
        run(&s).await;
        assert_eq!(
            allocations(&s).await,
            vec![("cr-1".into(), "A-1008".into(), "1160.00".into())],
            "{b:?}"
        );
        s.publish_changes(&["erp".to_string()]).await.unwrap();
        load(
            &s,
            &[spei_return(
                "dev-1",
                6,
                "-1160.00",
                "MBAN01002602020000000001",
            )],
        )
        .await;
        let sum = run(&s).await;
        assert_eq!((sum.reversals, sum.allocations_returned), (1, 1), "{b:?}");
        assert!(sum.line().contains("1 returns linked"), "{}", sum.line());
        assert!(allocations(&s).await.is_empty(), "{b:?}");
        assert_eq!(
            reversals(&s).await,
            vec![("dev-1".into(), "cr-1".into(), "1160.00".into())]
        );
        assert_eq!(
            balance(&s, "A-1008").await,
            ("1160.00".into(), "open".into()),
            "{b:?}"
        );
        let dev = payment_id(&s, "dev-1").await;
        let removed_by: String = sqlx::query("SELECT removed_by FROM allocations")
            .fetch_one(s.pool())
            .await
            .unwrap()
            .get(0);
        assert_eq!(removed_by, format!("reconcile: returned by payment {dev}"));
        let audited: i64 = sqlx::query("SELECT COUNT(*) FROM audit_log WHERE action = 'reversal'")
            .fetch_one(s.pool())
            .await
            .unwrap()
            .get(0);
        assert_eq!(audited, 1, "{b:?}");
        // The ERP hears of it like any other allocation change.
        s.publish_changes(&["erp".to_string()]).await.unwrap();
        let events: i64 =
            sqlx::query("SELECT COUNT(*) FROM outbox WHERE event_type = 'allocation.removed'")
                .fetch_one(s.pool())
                .await
                .unwrap()
                .get(0);
        assert_eq!(events, 1, "{b:?}");
        // `report payments`: the credit is shown returned, nothing of it left to apply.
        let t = s.report_payments().await.unwrap();
        assert_eq!(&t.columns[13..], ["returned", "returned_by"]);
        let row = t.rows.iter().find(|r| r[2] == "cr-1").expect("credit row");
        assert_eq!(
            (&row[6][..], &row[7][..], &row[13][..], &row[14][..]),
            ("0.00", "0.00", "1160.00", &dev.to_string()[..])
        );
        // Idempotent: a second run links nothing and writes nothing.
        let audit_before: i64 = sqlx::query("SELECT COUNT(*) FROM audit_log")
            .fetch_one(s.pool())
            .await
            .unwrap()
            .get(0);
        let again = run(&s).await;
        assert_eq!((again.reversals, again.allocations), (0, 0));
        let audit_after: i64 = sqlx::query("SELECT COUNT(*) FROM audit_log")
            .fetch_one(s.pool())
            .await
            .unwrap()
            .get(0);
        assert_eq!(audit_before, audit_after, "{b:?}");
        // The real payment that follows pays A-1008 again (not a duplicate: it was reopened).
        load(&s, &[credit("cr-2", 9, "MBAN01002602090000000002")]).await;
        run(&s).await;
        assert_eq!(
            allocations(&s).await,
            vec![("cr-2".into(), "A-1008".into(), "1160.00".into())],
            "{b:?}"
        );
        assert!(exceptions(&s).await.is_empty(), "{b:?}");
    }
}

/// A return imported before its credit is an exception until the credit arrives; imported with it (one file,
/// one run) or after it, the ledger ends the same: the credit applies nothing, the invoices stay open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn return_before_its_credit_or_with_it_ends_the_same() {
    for b in backends().await {
        let clave = "MBAN01002602020000000001";
        // Return first, then the credit.
        let (s1, _d1) = open_store(b).await;
        load(&s1, &base()).await;
        load(&s1, &[spei_return("dev-1", 6, "-1160.00", clave)]).await;
        run(&s1).await;
        let e = exceptions(&s1).await;
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0]
            .1
            .starts_with("return_unlinked: no credit with clave de rastreo"));
        load(&s1, &[credit("cr-1", 2, clave)]).await;
        run(&s1).await;
        // Both in one run.
        let (s2, _d2) = open_store(b).await;
        let mut all = base();
        all.push(spei_return("dev-1", 6, "-1160.00", clave));
        all.push(credit("cr-1", 2, clave));
        load(&s2, &all).await;
        run(&s2).await;
        for s in [&s1, &s2] {
            assert!(allocations(s).await.is_empty(), "{b:?}");
            assert!(exceptions(s).await.is_empty(), "{b:?}");
            assert_eq!(
                reversals(s).await,
                vec![("dev-1".into(), "cr-1".into(), "1160.00".into())]
            );
            assert_eq!(balance(s, "A-1008").await.1, "open");
        }
    }
}

/// A partial return: what is left of the credit no longer pays the invoice it paid, so that allocation is removed
/// and what is left is decided again (here the one invoice of that balance).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_return_leaves_the_rest_usable() {
    for b in backends().await {
        let (s, _db) = open_store(b).await;
        let mut all = vec![
            customers(),
            invoice(1, "2001", "2000.00"),
            invoice(2, "2002", "1500.00"),
        ];
        all.push(mv(Mv {
            id: "cr-2000",
            day: 2,
            amount: "2000.00",
            clave: Some("BNET01002602020000000077"),
            ..Default::default()
        }));
        load(&s, &all).await;
        run(&s).await;
        assert_eq!(
            allocations(&s).await,
            vec![("cr-2000".into(), "A-2001".into(), "2000.00".into())]
        );
        load(
            &s,
            &[spei_return(
                "dev-500",
                5,
                "-500.00",
                "BNET01002602020000000077",
            )],
        )
        .await;
        run(&s).await;
        assert_eq!(
            allocations(&s).await,
            vec![("cr-2000".into(), "A-2002".into(), "1500.00".into())],
            "{b:?}"
        );
        assert_eq!(balance(&s, "A-2001").await.1, "open");
        let t = s.report_payments().await.unwrap();
        let row = t.rows.iter().find(|r| r[2] == "cr-2000").unwrap();
        assert_eq!(
            (&row[6][..], &row[7][..], &row[13][..]),
            ("1500.00", "0.00", "500.00")
        );
    }
}

/// A provider refund names its charge: the charge's allocations go; a chargeback withdrawn and then reinstated
/// gives the money back and the payment is applied again (here by its metadata).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_refund_and_chargeback_follow_the_charge() {
    let names = |folio: &str| RemittanceLine {
        invoice: InvoiceRef::SerieFolio {
            serie: Some("A".into()),
            folio: folio.into(),
        },
        amount: None,
        equivalence: None,
        installment: None,
        balance_before: None,
        balance_after: None,
    };
    let provider = |id, day, amount, status, doc: &'static str, folio: Option<&str>| {
        mv(Mv {
            id,
            kind: Some(PaymentKind::Provider),
            day,
            amount,
            document_id: Some(doc),
            status,
            remittance: folio.map(names).into_iter().collect(),
            ..Default::default()
        })
    };
    for b in backends().await {
        let (s, _db) = open_store(b).await;
        let mut all = base();
        all.push(provider(
            "pi_1",
            2,
            "1160.00",
            Some("succeeded"),
            "ch_1",
            Some("1008"),
        ));
        all.push(provider(
            "pi_2",
            2,
            "1160.00",
            Some("succeeded"),
            "ch_2",
            Some("1009"),
        ));
        load(&s, &all).await;
        run(&s).await;
        assert_eq!(allocations(&s).await.len(), 2);
        load(
            &s,
            &[
                provider("re_1", 4, "-1160.00", Some("refunded"), "ch_1", None),
                provider(
                    "du_2:withdrawn",
                    5,
                    "-1160.00",
                    Some("dispute_funds_withdrawn"),
                    "ch_2",
                    None,
                ),
            ],
        )
        .await;
        run(&s).await;
        assert!(allocations(&s).await.is_empty(), "{b:?}");
        assert_eq!(balance(&s, "A-1008").await.1, "open");
        assert_eq!(balance(&s, "A-1009").await.1, "open");
        load(
            &s,
            &[provider(
                "du_2:reinstated",
                9,
                "1160.00",
                Some("dispute_funds_reinstated"),
                "ch_2",
                None,
            )],
        )
        .await;
        run(&s).await;
        assert_eq!(
            allocations(&s).await,
            vec![("pi_2".into(), "A-1009".into(), "1160.00".into())],
            "{b:?}"
        );
        assert!(
            exceptions(&s).await.is_empty(),
            "{:?}",
            exceptions(&s).await
        );
    }
}

/// A return that names no credit (a `DEVOLUCION` row without a clave de rastreo) is never guessed: an exception,
/// and the credit's allocation stands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn return_naming_no_credit_is_an_exception() {
    for b in backends().await {
        let (s, _db) = open_store(b).await;
        let mut all = base();
        all.push(credit("cr-1", 2, "MBAN01002602020000000001"));
        all.push(mv(Mv {
            id: "dev-?",
            day: 6,
            amount: "-1160.00",
            concepto: Some("DEVOLUCION"),
            status: Some("reversal"),
            ..Default::default()
        }));
        load(&s, &all).await;
        run(&s).await;
        assert_eq!(allocations(&s).await.len(), 1);
        let e = exceptions(&s).await;
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, "dev-?");
        assert!(e[0]
            .1
            .starts_with("return_unlinked: the return names no clave"));
    }
}

/// A return with no clave de rastreo of its own (an MT940 `RC` entry whose `:86:` says `DEVOLUCION SPEI RTRN
/// <reference>`, a CSV `CARGO` row) is linked to the one earlier credit whose clave de rastreo or bank reference
/// its text names; a credit booked after the return is never what it returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn return_naming_the_credit_in_its_text_is_linked() {
    for b in backends().await {
        let (s, _db) = open_store(b).await;
        let mut all = base();
        all.push(credit("cr-1", 2, "MBAN01002602020000000001"));
        all.push(mv(Mv {
            id: "dev-t",
            day: 6,
            amount: "-1160.00",
            concepto: Some("DEVOLUCION SPEI RTRN MBAN01002602020000000001"),
            status: Some("reversal"),
            ..Default::default()
        }));
        load(&s, &all).await;
        run(&s).await;
        assert_eq!(
            allocations(&s).await,
            vec![],
            "{b:?}: the returned credit pays nothing"
        );
        assert!(exceptions(&s).await.iter().all(|e| e.0 != "dev-t"), "{b:?}");
        assert_eq!(reversals(&s).await.len(), 1, "{b:?}");
        // Named, but booked after the return: not what it returns.
        let (s, _db) = open_store(b).await;
        let mut all = base();
        all.push(credit("cr-late", 9, "MBAN01002602090000000009"));
        all.push(mv(Mv {
            id: "dev-early",
            day: 6,
            amount: "-1160.00",
            concepto: Some("DEVOLUCION SPEI RTRN MBAN01002602090000000009"),
            status: Some("reversal"),
            ..Default::default()
        }));
        load(&s, &all).await;
        run(&s).await;
        assert_eq!(allocations(&s).await.len(), 1, "{b:?}");
        assert!(reversals(&s).await.is_empty(), "{b:?}");
        assert!(exceptions(&s)
            .await
            .iter()
            .any(|e| e.0 == "dev-early" && e.1.starts_with("return_unlinked")));
    }
}

/// The issue's class 2: both transfers cite A-1008. Before: the second landed on A-1009 ("the only such open
/// invoice"), the citation dropped. Now it is a `duplicate_payment` naming the first, in one run or two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_payment_of_a_paid_invoice_is_a_duplicate() {
    for b in backends().await {
        for one_run in [false, true] {
            let (s, _db) = open_store(b).await;
            load(&s, &base()).await;
            load(&s, &[credit("cr-1", 2, "MBAN01002602020000000001")]).await;
            if !one_run {
                run(&s).await;
            }
            load(&s, &[credit("cr-2", 3, "MBAN01002602030000000002")]).await;
            run(&s).await;
            assert_eq!(
                allocations(&s).await,
                vec![("cr-1".into(), "A-1008".into(), "1160.00".into())],
                "{b:?} one run: {one_run}"
            );
            let first = payment_id(&s, "cr-1").await;
            let e = exceptions(&s).await;
            assert_eq!(e.len(), 1, "{e:?}");
            assert_eq!(e[0].0, "cr-2");
            assert!(
                e[0].1.starts_with(&format!(
                    "duplicate_payment: the concepto names A-1008 (by serie_folio), already paid by payment {first}"
                )),
                "{}",
                e[0].1
            );
            assert_eq!(balance(&s, "A-1009").await.1, "open");
        }
    }
}

/// Through the binaries: a camt.053 with a credit and its return (`RvslInd`) in one file, imported and reconciled;
/// the invoice stays open and `report payments` shows the credit returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_with_a_credit_and_its_return_through_the_cli() {
    let camt = r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>
<GrpHdr><MsgId>R-1</MsgId><CreDtTm>2026-02-10T20:00:00-06:00</CreDtTm></GrpHdr>
<Stmt><Id>R-1</Id><Acct><Id><Othr><Id>646180157000000004</Id></Othr></Id><Ccy>MXN</Ccy></Acct>
<Ntry><Amt Ccy="MXN">1160.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
 <BookgDt><Dt>2026-02-02</Dt></BookgDt><AcctSvcrRef>R-0001</AcctSvcrRef>
 <NtryDtls><TxDtls><Refs><ClrSysRef>MBAN01002602020000000001</ClrSysRef></Refs>
 <RltdPties><DbtrAcct><Id><Othr><Id>012180001234567897</Id></Othr></Id></DbtrAcct></RltdPties>
 <RmtInf><Ustrd>PAGO FACTURA A-1008</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>
<Ntry><Amt Ccy="MXN">1160.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><RvslInd>true</RvslInd><Sts><Cd>BOOK</Cd></Sts>
 <BookgDt><Dt>2026-02-05</Dt></BookgDt><AcctSvcrRef>R-0002</AcctSvcrRef>
 <NtryDtls><TxDtls><Refs><ClrSysRef>MBAN01002602020000000001</ClrSysRef></Refs></TxDtls></NtryDtls></Ntry>
</Stmt></BkToCstmrStmt></Document>"#;
    for b in backends().await {
        let db = fresh_db(b).await;
        let settings = test_settings(&db, "");
        let store = Store::open(&settings.database.url, 2).await.unwrap();
        load(&store, &base()).await;
        store.close().await;
        let cfg = config_path(&db);
        let cfg = cfg.to_str().unwrap();
        let dir = db.dir.path();
        let file = dir.join("returns.xml");
        std::fs::write(&file, camt).unwrap();
        let out = cuadra(
            dir,
            &[
                "--config",
                cfg,
                "import",
                "statement",
                file.to_str().unwrap(),
            ],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = cuadra(dir, &["--config", cfg, "reconcile"]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(text.contains("1 returns linked"), "{text}");
        let out = cuadra(
            dir,
            &["--config", cfg, "report", "payments", "--format", "csv"],
        );
        let csv = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            csv.lines()
                .next()
                .unwrap()
                .ends_with(",returned,returned_by"),
            "{csv}"
        );
        assert_eq!(csv.lines().count(), 2, "the credit only: {csv}");
        assert!(
            csv.lines().nth(1).unwrap().contains(",1160.00,0.00,0.00,"),
            "{csv}"
        );
        let out = cuadra(
            dir,
            &["--config", cfg, "report", "invoices", "--format", "csv"],
        );
        let csv = String::from_utf8_lossy(&out.stdout).to_string();
        let row = csv.lines().find(|l| l.contains(",1008,")).unwrap();
        assert!(row.ends_with(",open"), "{row}");
    }
}
