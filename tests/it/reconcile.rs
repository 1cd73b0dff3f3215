//! Reconciliation on SQLite and PostgreSQL: each pass, each kind of noise, manual match/unmatch and learning,
//! same money seen twice, tolerance, order independence, idempotence, the CLI and the daemon.
//!
//! Longer than our ~600 lines on purpose: one capability's suite, whose cases share the fixtures built here.

use super::helpers::{
    backends, build_app, config_path, cuadra, eventually, fresh_db, spawn_app, test_settings,
    Backend,
};
use chrono::{NaiveDate, TimeZone, Utc};
use cuadra::reconcile::{self, Options};
use cuadra::store::Store;
use cuadra_sdk::*;
use std::collections::BTreeMap;

pub(super) const COMPANY: &str = "EKU9003173C9";
const ACME: &str = "AAA010101AAA";
pub(super) const NORTE: &str = "CNO020202BB2";
const OMEGA: &str = "GOM030303CC3";
const USDCO: &str = "USD040404DD4";
const ACME_CLABE: &str = "012180001234567897";

pub(super) fn uuid_for(n: u32) -> String {
    format!("{n:08x}-0000-4000-8000-{:012x}", n as u64 * 7919)
}

pub(super) fn customer(
    rfc: &str,
    name: &str,
    accounts: &[&str],
    reference: Option<&str>,
) -> Record {
    Record::Customer(CustomerRecord {
        rfc: Some(Rfc::parse(rfc).unwrap()),
        name: name.into(),
        accounts: accounts.iter().map(|s| s.to_string()).collect(),
        payment_reference: reference.map(String::from),
        ..Default::default()
    })
}

pub(super) fn customers() -> Delivery {
    Delivery {
        kind: "customers".into(),
        external_id: "customers.csv".into(),
        raw: b"customers v1".to_vec(),
        records: vec![
            customer(ACME, "Acme Industrial, S.A. de C.V.", &[ACME_CLABE], None),
            customer(
                NORTE,
                "Comercial del Norte, S.A. de C.V.",
                &[],
                Some("7001"),
            ),
            customer(OMEGA, "Grupo Omega S.A.P.I. de C.V.", &[], None),
            customer(USDCO, "Dollar Imports SC", &[], None),
        ],
    }
}

/// An invoice `n` (UUID derived from it) with serie/folio, for a customer, on a day of January 2026.
pub(super) fn invoice(
    n: u32,
    serie: &str,
    folio: &str,
    rfc: &str,
    total: &str,
    currency: Currency,
    day: u32,
) -> Delivery {
    let uuid = uuid_for(n);
    Delivery {
        kind: "cfdi".into(),
        external_id: uuid.clone(),
        raw: format!("<cfdi uuid='{uuid}' total='{total}'/>").into_bytes(),
        records: vec![Record::Invoice(InvoiceRecord {
            uuid: Some(CfdiUuid::parse(&uuid).unwrap()),
            serie: Some(serie.into()),
            folio: Some(folio.into()),
            issuer_rfc: Some(Rfc::parse(COMPANY).unwrap()),
            customer_rfc: Some(Rfc::parse(rfc).unwrap()),
            customer_name: None,
            issued_at: Utc.with_ymd_and_hms(2026, 1, day, 18, 0, 0).unwrap(),
            due_at: None,
            total: Money::parse(total, currency).unwrap(),
            subtotal: None,
            exchange_rate: None,
            payment_method: Some(PaymentMethod::Ppd),
            payment_form: Some("99".into()),
            replaces: vec![],
            erp_id: None,
            erp_residual: None,
            version: "4.0".into(),
        })],
    }
}

#[derive(Default, Clone)]
pub(super) struct Pay {
    pub(super) id: &'static str,
    pub(super) kind: Option<PaymentKind>,
    pub(super) day: u32,
    pub(super) amount: &'static str,
    pub(super) currency: Option<Currency>,
    pub(super) name: Option<&'static str>,
    pub(super) rfc: Option<&'static str>,
    pub(super) account: Option<&'static str>,
    pub(super) referencia: Option<&'static str>,
    pub(super) concepto: Option<&'static str>,
    pub(super) clave: Option<&'static str>,
    pub(super) op: Option<&'static str>,
    pub(super) remittance: Vec<RemittanceLine>,
}

pub(super) fn payment(p: Pay) -> Delivery {
    let kind = p.kind.unwrap_or(PaymentKind::Bank);
    let cur = p.currency.unwrap_or(Currency::MXN);
    Delivery {
        kind: format!("test-{}", kind.as_str()),
        external_id: p.id.into(),
        raw: format!("payment {}", p.id).into_bytes(),
        records: vec![Record::Payment(PaymentRecord {
            kind,
            external_id: p.id.into(),
            own_account: Some("012180009999999999".into()),
            booked_on: NaiveDate::from_ymd_opt(2026, 2, p.day).unwrap(),
            value_date: None,
            amount: Money::parse(p.amount, cur).unwrap(),
            bank_reference: None,
            clave_rastreo: p.clave.map(String::from),
            payer_name: p.name.map(String::from),
            payer_rfc: p.rfc.map(String::from),
            payer_account: p.account.map(String::from),
            referencia_numerica: p.referencia.map(String::from),
            concepto: p.concepto.map(String::from),
            document_id: (kind == PaymentKind::Rep).then(|| uuid_for(900)),
            operation_number: p.op.map(String::from),
            remittance: p.remittance,
            customer_hint: None,
            status: None,
        })],
    }
}

pub(super) fn line(invoice: InvoiceRef, amount: Option<&str>) -> RemittanceLine {
    RemittanceLine {
        invoice,
        amount: amount.map(|a| Money::parse(a, Currency::MXN).unwrap()),
        equivalence: None,
        installment: Some(1),
        balance_before: None,
        balance_after: None,
    }
}

/// The main scenario: every pass and most kinds of noise.
fn scenario() -> Vec<Delivery> {
    let mxn = Currency::MXN;
    let mut v = vec![
        customers(),
        // Acme (known CLABE)
        invoice(1, "A", "101", ACME, "1160.00", mxn, 5),
        invoice(2, "A", "102", ACME, "2320.00", mxn, 6),
        invoice(3, "A", "103", ACME, "500.00", mxn, 7),
        invoice(4, "A", "104", ACME, "700.00", mxn, 8),
        // Norte (referencia numérica 7001)
        invoice(5, "B", "201", NORTE, "3480.00", mxn, 5),
        invoice(6, "B", "202", NORTE, "10000.00", mxn, 6),
        invoice(7, "B", "1234", NORTE, "4321.00", mxn, 7),
        // Omega (name only)
        invoice(8, "C", "301", OMEGA, "999.99", mxn, 5),
        invoice(9, "C", "302", OMEGA, "450.00", mxn, 6),
        invoice(10, "C", "303", OMEGA, "450.00", mxn, 7),
        invoice(11, "C", "304", OMEGA, "8800.00", mxn, 8),
        // USD customer
        invoice(12, "D", "401", USDCO, "1500.00", Currency::USD, 5),
        invoice(13, "D", "402", USDCO, "1500.00", mxn, 6),
    ];
    let pays = vec![
        // Pass 3 account + pass 4 exact amount.
        Pay {
            id: "acct-exact",
            day: 1,
            amount: "1160.00",
            account: Some("0121 8000 1234 5678 97"),
            name: Some("ACME IND"),
            ..Default::default()
        },
        // Combination: 500 + 700 = 1200 (only combination among Acme's remaining open invoices).
        Pay {
            id: "acct-combo",
            day: 2,
            amount: "1200.00",
            account: Some(ACME_CLABE),
            ..Default::default()
        },
        // Referencia numérica + exact amount.
        Pay {
            id: "ref-exact",
            day: 3,
            amount: "3480.00",
            referencia: Some("0007001"),
            name: Some("X"),
            ..Default::default()
        },
        // Partial payment naming the invoice.
        Pay {
            id: "ref-partial",
            day: 4,
            amount: "4000.00",
            referencia: Some("7001"),
            concepto: Some("ABONO FACTURA B-202"),
            ..Default::default()
        },
        // Folio typo: concepto says 1243, amount is B-1234's balance.
        Pay {
            id: "rfc-typo",
            day: 5,
            amount: "4321.00",
            rfc: Some(NORTE),
            concepto: Some("PAGO FAC 1243"),
            ..Default::default()
        },
        // Name variant (punctuation, legal form, abbreviation) + unique amount.
        Pay {
            id: "name-exact",
            day: 6,
            amount: "999.99",
            name: Some("GPO OMEGA SAPI DE CV"),
            ..Default::default()
        },
        // Same name, amount shared by two invoices: ambiguous.
        Pay {
            id: "name-ambiguous",
            day: 7,
            amount: "450.00",
            name: Some("GRUPO OMEGA, S.A.P.I. DE C.V."),
            ..Default::default()
        },
        // A third party citing the invoice, with the exact amount.
        Pay {
            id: "third-party",
            day: 8,
            amount: "2320.00",
            name: Some("FACTORAJE ZETA SA"),
            concepto: Some("PAGO FACT A-00102 ACME"),
            ..Default::default()
        },
        // A stranger paying an amount equal to an open invoice (C-304).
        Pay {
            id: "stranger",
            day: 9,
            amount: "8800.00",
            name: Some("JUAN PEREZ LOPEZ"),
            ..Default::default()
        },
        // Interest.
        Pay {
            id: "interest",
            day: 10,
            amount: "12.34",
            name: Some("BANCO"),
            concepto: Some("INTERESES GANADOS"),
            ..Default::default()
        },
        // USD: pays the USD invoice, never the MXN one of the same amount.
        Pay {
            id: "usd",
            day: 11,
            amount: "1500.00",
            currency: Some(Currency::USD),
            rfc: Some(USDCO),
            ..Default::default()
        },
        // Provider payment whose metadata names the invoice by serie/folio (authoritative).
        Pay {
            id: "prov-1",
            kind: Some(PaymentKind::Provider),
            day: 12,
            amount: "1500.00",
            remittance: vec![line(
                InvoiceRef::SerieFolio {
                    serie: Some("D".into()),
                    folio: "402".into(),
                },
                None,
            )],
            ..Default::default()
        },
    ];
    v.extend(pays.into_iter().map(payment));
    v
}

pub(super) async fn open_store(b: Backend) -> (Store, super::helpers::TestDb) {
    let db = fresh_db(b).await;
    let s = Store::open(&db.url, 4).await.expect("open store");
    (s, db)
}

pub(super) async fn load(store: &Store, deliveries: &[Delivery]) {
    for d in deliveries {
        store
            .ingest("test", std::slice::from_ref(d), None)
            .await
            .expect("ingest");
    }
    store.link_documents().await.expect("link");
}

/// Active allocations keyed by content: (payment external id, invoice serie-folio, amount, method).
pub(super) async fn allocations(store: &Store) -> Vec<(String, String, String, String)> {
    use sqlx::Row;
    let rows = sqlx::query(
        "SELECT p.external_id, i.serie, i.folio, a.amount_micros, a.currency, a.method FROM allocations a \
         JOIN payments p ON p.id = a.payment_id JOIN invoices i ON i.id = a.invoice_id WHERE a.removed_at IS NULL",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let mut out: Vec<_> = rows
        .iter()
        .map(|r| {
            let cur: String = r.get(4);
            (
                r.get::<String, _>(0),
                format!("{}-{}", r.get::<String, _>(1), r.get::<String, _>(2)),
                cuadra::store::money(r.get::<i64, _>(3), &cur),
                r.get::<String, _>(5),
            )
        })
        .collect();
    out.sort();
    out
}

pub(super) async fn exceptions(store: &Store) -> BTreeMap<String, (String, String)> {
    use sqlx::Row;
    sqlx::query("SELECT p.external_id, e.reason, e.candidates FROM exceptions e JOIN payments p ON p.id = e.payment_id")
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get::<String, _>(0), (r.get::<String, _>(1), r.get::<String, _>(2))))
        .collect()
}

pub(super) fn has(
    allocs: &[(String, String, String, String)],
    pay: &str,
    inv: &str,
    amount: &str,
    method: &str,
) -> bool {
    allocs
        .iter()
        .any(|a| a.0 == pay && a.1 == inv && a.2 == amount && a.3 == method)
}

pub(super) fn of(allocs: &[(String, String, String, String)], pay: &str) -> usize {
    allocs.iter().filter(|a| a.0 == pay).count()
}

pub(super) async fn balance(store: &Store, serie_folio: &str) -> (String, String) {
    let t = store.report_invoices().await.unwrap();
    let r = t
        .rows
        .iter()
        .find(|r| format!("{}-{}", r[1], r[2]) == serie_folio)
        .expect("invoice in report");
    (r[11].clone(), r[12].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_pass_and_noise() {
    for b in backends().await {
        let (store, _db) = open_store(b).await;
        load(&store, &scenario()).await;
        let s = reconcile::run(&store, &Options::default(), false)
            .await
            .unwrap();
        let a = allocations(&store).await;
        let e = exceptions(&store).await;
        assert!(
            has(&a, "acct-exact", "A-101", "1160.00", "amount"),
            "{b:?} {a:#?}"
        );
        assert!(
            has(&a, "acct-combo", "A-103", "500.00", "combination"),
            "{b:?} {a:#?}"
        );
        assert!(
            has(&a, "acct-combo", "A-104", "700.00", "combination"),
            "{b:?} {a:#?}"
        );
        assert!(
            has(&a, "ref-exact", "B-201", "3480.00", "amount"),
            "{b:?} {a:#?}"
        );
        assert!(
            has(&a, "ref-partial", "B-202", "4000.00", "partial"),
            "{b:?} {a:#?}"
        );
        assert!(
            has(&a, "rfc-typo", "B-1234", "4321.00", "amount"),
            "{b:?} {a:#?}"
        );
        assert!(
            has(&a, "name-exact", "C-301", "999.99", "amount"),
            "{b:?} {a:#?}"
        );
        assert!(
            has(&a, "third-party", "A-102", "2320.00", "reference"),
            "{b:?} {a:#?}"
        );
        assert!(has(&a, "usd", "D-401", "1500.00", "amount"), "{b:?} {a:#?}");
        assert!(
            has(&a, "prov-1", "D-402", "1500.00", "remittance"),
            "{b:?} {a:#?}"
        );
        for p in ["name-ambiguous", "stranger", "interest"] {
            assert_eq!(of(&a, p), 0, "{b:?} {p} must not be allocated: {a:#?}");
            assert!(e.contains_key(p), "{b:?} {p} must be an exception: {e:#?}");
        }
        assert!(
            e["name-ambiguous"].0.starts_with("ambiguous_amount"),
            "{e:#?}"
        );
        assert!(e["stranger"].0.starts_with("unknown_payer"), "{e:#?}");
        assert!(
            e["stranger"].1.contains("\"304\""),
            "stranger's candidates list C-304: {e:#?}"
        );
        assert!(e["interest"].0.starts_with("not_receivable"), "{e:#?}");
        assert_eq!(e.len(), 3, "{b:?} {e:#?}");
        assert_eq!(s.allocations, a.len());
        // Every allocation explains itself.
        let t = store.report_allocations().await.unwrap();
        assert!(
            t.rows.iter().all(|r| !r[7].is_empty() && r[6] != "0.00"),
            "{:#?}",
            t.rows
        );
        // `confidence` is a fraction with two decimals, as docs/reconcile.md says (it said percent and printed 0.99).
        for r in &t.rows {
            let c: rust_decimal::Decimal = r[6].parse().unwrap();
            assert!(
                r[6].len() == 4
                    && c > rust_decimal::Decimal::ZERO
                    && c <= rust_decimal::Decimal::ONE,
                "{r:?}"
            );
        }
        let doc = include_str!("../../docs/reconcile.md");
        assert!(
            doc.contains("`confidence` is a\nfraction from 0.00 to 1.00")
                && !doc.contains("(percent)"),
            "docs/reconcile.md and the report disagree on confidence"
        );
        assert_eq!(
            balance(&store, "B-202").await,
            ("6000.00".into(), "partial".into())
        );
        assert_eq!(
            balance(&store, "C-304").await,
            ("8800.00".into(), "open".into())
        );
        // The exceptions report has the contract's columns.
        let t = store.report_exceptions().await.unwrap();
        assert_eq!(
            t.columns,
            vec![
                "payment_id",
                "date",
                "currency",
                "amount",
                "payer_name",
                "reason",
                "candidates"
            ]
        );
        assert_eq!(t.rows.len(), 3);

        // Re-running changes nothing.
        let before_audit = store.count("audit_log").await.unwrap();
        let s2 = reconcile::run(&store, &Options::default(), false)
            .await
            .unwrap();
        assert_eq!(s2.allocations, 0, "{b:?} second run allocated again");
        assert_eq!(allocations(&store).await, a);
        assert_eq!(exceptions(&store).await, e);
        assert_eq!(
            store.count("audit_log").await.unwrap(),
            before_audit,
            "a no-op run writes no audit"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_writes_nothing() {
    for b in backends().await {
        let (store, _db) = open_store(b).await;
        load(&store, &scenario()).await;
        let s = reconcile::run(&store, &Options::default(), true)
            .await
            .unwrap();
        assert!(s.allocations > 5 && s.dry_run);
        assert_eq!(store.count("allocations").await.unwrap(), 0);
        assert_eq!(store.count("exceptions").await.unwrap(), 0);
    }
}

/// Runs started at once (two tasks on one store, and a second process's store on the same database) write the
/// allocations once: each waits for the lease of the one before it, then finds the payments decided.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_allocate_once() {
    for b in backends().await {
        let (once, _d1) = open_store(b).await;
        load(&once, &scenario()).await;
        reconcile::run(&once, &Options::default(), false)
            .await
            .unwrap();
        let (store, db) = open_store(b).await;
        load(&store, &scenario()).await;
        let other = Store::open(&db.url, 4).await.expect("second store");
        let o = Options::default();
        let (a, b2, c) = tokio::join!(
            reconcile::run(&store, &o, false),
            reconcile::run(&store, &o, false),
            reconcile::run(&other, &o, false)
        );
        let made: usize = [a.unwrap(), b2.unwrap(), c.unwrap()]
            .iter()
            .map(|s| s.allocations)
            .sum();
        assert_eq!(allocations(&store).await, allocations(&once).await, "{b:?}");
        assert_eq!(made, allocations(&once).await.len(), "{b:?}: written once");
        assert_eq!(store.count("leases").await.unwrap(), 0, "{b:?}: given back");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_independent() {
    for b in backends().await {
        let all = scenario();
        let (s1, _d1) = open_store(b).await;
        load(&s1, &all).await;
        reconcile::run(&s1, &Options::default(), false)
            .await
            .unwrap();
        let (s2, _d2) = open_store(b).await;
        let mut rev = all.clone();
        rev.reverse();
        load(&s2, &rev).await;
        reconcile::run(&s2, &Options::default(), false)
            .await
            .unwrap();
        assert_eq!(allocations(&s1).await, allocations(&s2).await, "{b:?}");
        let e1: Vec<_> = exceptions(&s1)
            .await
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect();
        let e2: Vec<_> = exceptions(&s2)
            .await
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect();
        assert_eq!(e1, e2, "{b:?}");
    }
}

pub(super) fn rep_for(uuid_n: u32, amount: &str, day: u32, op: Option<&'static str>) -> Delivery {
    let rep_uuid = uuid_for(900);
    let mut d = payment(Pay {
        id: "rep-1",
        kind: Some(PaymentKind::Rep),
        day,
        amount: Box::leak(amount.to_string().into_boxed_str()),
        rfc: Some(NORTE),
        name: Some("Comercial del Norte"),
        op,
        remittance: vec![line(
            InvoiceRef::Uuid(CfdiUuid::parse(&uuid_for(uuid_n)).unwrap()),
            Some(amount),
        )],
        ..Default::default()
    });
    d.kind = "cfdi".into();
    d.external_id = rep_uuid;
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_money_bank_and_rep_in_either_order() {
    for b in backends().await {
        let mxn = Currency::MXN;
        let base = vec![
            customers(),
            invoice(5, "B", "201", NORTE, "3480.00", mxn, 5),
            invoice(6, "B", "202", NORTE, "10000.00", mxn, 6),
        ];
        // A partial payment of B-202 without any reference: only the REP tells what it paid.
        let bank = payment(Pay {
            id: "bank-1",
            day: 3,
            amount: "2500.00",
            referencia: Some("7001"),
            ..Default::default()
        });
        // A bank credit whose amount fits B-201 and a REP (arriving later) that says the same money paid B-201.
        let bank2 = payment(Pay {
            id: "bank-2",
            day: 4,
            amount: "3480.00",
            referencia: Some("7001"),
            clave: Some("MBAN01002602040001"),
            ..Default::default()
        });
        let rep_partial = rep_for(6, "2500.00", 3, None);
        let mut rep_full = rep_for(5, "3480.00", 4, Some("MBAN01002602040001"));
        rep_full.external_id = uuid_for(901);
        if let Record::Payment(p) = &mut rep_full.records[0] {
            p.external_id = "rep-2".into();
            p.document_id = Some(uuid_for(901));
        }

        // Order 1: bank credits first (bank-2 is matched by amount), then the REPs arrive.
        let (s1, _d1) = open_store(b).await;
        load(&s1, &base).await;
        load(&s1, &[bank.clone(), bank2.clone()]).await;
        reconcile::run(&s1, &Options::default(), false)
            .await
            .unwrap();
        let first = allocations(&s1).await;
        assert!(
            has(&first, "bank-2", "B-201", "3480.00", "amount"),
            "{first:#?}"
        );
        assert!(exceptions(&s1).await.contains_key("bank-1"));
        load(&s1, &[rep_partial.clone(), rep_full.clone()]).await;
        let s = reconcile::run(&s1, &Options::default(), false)
            .await
            .unwrap();
        assert_eq!(s.same_money_links, 2, "{b:?} {s:?}");
        // The engine's allocation of bank-2 was displaced when the REP naming B-201 arrived (a document wins over
        // a guess, and no invoice is over-paid meanwhile): nothing is left for the same-money link to replace.
        assert_eq!(s.allocations_replaced, 0, "{b:?} {s:?}");
        let a1 = allocations(&s1).await;
        assert_eq!(of(&a1, "bank-1") + of(&a1, "bank-2"), 0, "{a1:#?}");
        assert!(has(&a1, "rep-1", "B-202", "2500.00", "rep"), "{a1:#?}");
        assert!(has(&a1, "rep-2", "B-201", "3480.00", "rep"), "{a1:#?}");
        assert!(
            exceptions(&s1).await.is_empty(),
            "{:#?}",
            exceptions(&s1).await
        );
        assert_eq!(balance(&s1, "B-201").await, ("0.00".into(), "paid".into()));
        assert_eq!(
            balance(&s1, "B-202").await,
            ("7500.00".into(), "partial".into())
        );

        // Order 2: REPs first.
        let (s2, _d2) = open_store(b).await;
        load(&s2, &base).await;
        load(&s2, &[rep_full, rep_partial]).await;
        reconcile::run(&s2, &Options::default(), false)
            .await
            .unwrap();
        load(&s2, &[bank2, bank]).await;
        reconcile::run(&s2, &Options::default(), false)
            .await
            .unwrap();
        assert_eq!(allocations(&s2).await, a1, "{b:?}");
        assert!(exceptions(&s2).await.is_empty());
        let links = |s: Store| async move {
            use sqlx::Row;
            sqlx::query("SELECT p.external_id, t.external_id FROM payments p JOIN payments t ON t.id = p.same_as_payment_id ORDER BY 1")
                .fetch_all(s.pool())
                .await
                .unwrap()
                .iter()
                .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
                .collect::<Vec<_>>()
        };
        let l1 = links(s1.clone()).await;
        assert_eq!(
            l1,
            vec![
                ("bank-1".to_string(), "rep-1".to_string()),
                ("bank-2".to_string(), "rep-2".to_string())
            ]
        );
        assert_eq!(links(s2.clone()).await, l1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_match_learns_and_unmatch_sticks() {
    for b in backends().await {
        let (store, _db) = open_store(b).await;
        let mxn = Currency::MXN;
        load(
            &store,
            &[
                customers(),
                invoice(20, "E", "501", OMEGA, "777.00", mxn, 5),
                invoice(21, "E", "502", OMEGA, "888.00", mxn, 6),
                payment(Pay {
                    id: "unknown-1",
                    day: 1,
                    amount: "777.00",
                    name: Some("TESORERIA CORPORATIVA XYZ"),
                    account: Some("072180005555555555"),
                    ..Default::default()
                }),
            ],
        )
        .await;
        reconcile::run(&store, &Options::default(), false)
            .await
            .unwrap();
        assert!(exceptions(&store).await["unknown-1"]
            .0
            .starts_with("unknown_payer"));
        let pid = payment_id(&store, "unknown-1").await;
        let inv = store.find_invoice_ref("E-501").await.unwrap().unwrap();
        let m = store
            .manual_match(pid, &[(inv, None)], "tester")
            .await
            .unwrap();
        assert_eq!(m.allocation_ids.len(), 1);
        assert_eq!(m.aliases_learned.len(), 2, "{m:?}");
        assert!(exceptions(&store).await.is_empty());
        assert_eq!(
            balance(&store, "E-501").await,
            ("0.00".into(), "paid".into())
        );
        let audit = audit_actions(&store).await;
        assert!(
            audit.contains(&"match".to_string()) && audit.contains(&"learn_alias".to_string()),
            "{audit:?}"
        );

        // Unmatch restores the balance; the engine does not put it back.
        store.unmatch(m.allocation_ids[0], "tester").await.unwrap();
        assert!(
            store.unmatch(m.allocation_ids[0], "tester").await.is_err(),
            "a second unmatch is refused"
        );
        assert_eq!(
            balance(&store, "E-501").await,
            ("777.00".into(), "open".into())
        );
        reconcile::run(&store, &Options::default(), false)
            .await
            .unwrap();
        assert_eq!(of(&allocations(&store).await, "unknown-1"), 0);
        let e = exceptions(&store).await;
        assert!(e["unknown-1"].1.contains("removed by a person"), "{e:#?}");
        assert!(audit_actions(&store).await.contains(&"unmatch".to_string()));

        // The learned account identifies the next payment from it; the learned name the one after.
        load(
            &store,
            &[payment(Pay {
                id: "known-acct",
                day: 2,
                amount: "888.00",
                account: Some("072-180-005555555555"),
                ..Default::default()
            })],
        )
        .await;
        reconcile::run(&store, &Options::default(), false)
            .await
            .unwrap();
        assert!(has(
            &allocations(&store).await,
            "known-acct",
            "E-502",
            "888.00",
            "amount"
        ));
        load(
            &store,
            &[
                invoice(22, "E", "503", OMEGA, "999.00", mxn, 7),
                payment(Pay {
                    id: "known-name",
                    day: 3,
                    amount: "999.00",
                    name: Some("Tesorería Corporativa XYZ"),
                    ..Default::default()
                }),
            ],
        )
        .await;
        reconcile::run(&store, &Options::default(), false)
            .await
            .unwrap();
        assert!(has(
            &allocations(&store).await,
            "known-name",
            "E-503",
            "999.00",
            "amount"
        ));

        // Re-match by hand after an unmatch is allowed, with an explicit amount.
        let m2 = store
            .manual_match(pid, &[(inv, Some(500_000_000))], "tester")
            .await
            .unwrap();
        assert_eq!(m2.allocation_ids.len(), 1);
        assert_eq!(
            balance(&store, "E-501").await,
            ("277.00".into(), "partial".into())
        );
        // More than the payment has left is refused.
        assert!(store
            .manual_match(pid, &[(inv, Some(300_000_000))], "tester")
            .await
            .is_err());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tolerance_off_by_default_and_recorded_when_on() {
    for b in backends().await {
        let (store, _db) = open_store(b).await;
        load(
            &store,
            &[
                customers(),
                invoice(30, "F", "601", ACME, "1000.00", Currency::MXN, 5),
                payment(Pay {
                    id: "fee",
                    day: 1,
                    amount: "994.50",
                    account: Some(ACME_CLABE),
                    ..Default::default()
                }),
            ],
        )
        .await;
        reconcile::run(&store, &Options::default(), false)
            .await
            .unwrap();
        assert!(exceptions(&store).await["fee"]
            .0
            .starts_with("no_amount_match"));
        let opts = Options {
            tolerance: 10_000_000,
            ..Options::default()
        };
        reconcile::run(&store, &opts, false).await.unwrap();
        let a = allocations(&store).await;
        assert!(has(&a, "fee", "F-601", "994.50", "amount"), "{a:#?}");
        assert!(has(&a, "fee", "F-601", "5.50", "tolerance"), "{a:#?}");
        assert_eq!(
            balance(&store, "F-601").await,
            ("0.00".into(), "paid".into())
        );
        assert!(exceptions(&store).await.is_empty());
    }
}

async fn payment_id(store: &Store, external: &str) -> i64 {
    use sqlx::Row;
    sqlx::query("SELECT id FROM payments WHERE external_id = $1")
        .bind(external)
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0)
}

async fn audit_actions(store: &Store) -> Vec<String> {
    use sqlx::Row;
    sqlx::query("SELECT action FROM audit_log")
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_reconcile_match_unmatch_and_exceptions_report() {
    for b in backends().await {
        let db = fresh_db(b).await;
        let settings = test_settings(&db, "[reconcile]\ntolerance = \"0.00\"\n");
        let store = Store::open(&settings.database.url, 2).await.unwrap();
        load(&store, &scenario()).await;
        store.close().await;
        let cfg = config_path(&db);
        let cfg = cfg.to_str().unwrap();
        let dir = db.dir.path();
        let out = cuadra(dir, &["--config", cfg, "reconcile", "--dry-run"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("dry run"));
        let out = cuadra(dir, &["--config", cfg, "reconcile"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(text.contains("3 exceptions"), "{text}");
        let out = cuadra(
            dir,
            &["--config", cfg, "report", "exceptions", "--format", "csv"],
        );
        let csv = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            csv.starts_with("payment_id,date,currency,amount,payer_name,reason,candidates"),
            "{csv}"
        );
        let stranger = csv
            .lines()
            .find(|l| l.contains("JUAN PEREZ"))
            .expect("stranger row")
            .to_string();
        let pid = stranger.split(',').next().unwrap().to_string();
        // Bad usage and bad input exit 2.
        assert_eq!(
            cuadra(dir, &["--config", cfg, "match", &pid, "C-304=abc"])
                .status
                .code(),
            Some(2)
        );
        assert_eq!(
            cuadra(dir, &["--config", cfg, "match", &pid, "Z-999"])
                .status
                .code(),
            Some(2)
        );
        assert_eq!(
            cuadra(dir, &["--config", cfg, "unmatch", "999999"])
                .status
                .code(),
            Some(2)
        );
        let out = cuadra(dir, &["--config", cfg, "match", &pid, "C-304=8800.00"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let said = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(said.contains("learned: name JUAN PEREZ LOPEZ"), "{said}");
        let alloc_id: String = said
            .split("allocations ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .to_string();
        let out = cuadra(
            dir,
            &["--config", cfg, "report", "exceptions", "--format", "csv"],
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains("JUAN PEREZ"));
        let out = cuadra(dir, &["--config", cfg, "unmatch", &alloc_id]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = cuadra(dir, &["--config", cfg, "reconcile"]);
        assert_eq!(out.status.code(), Some(0));
        let out = cuadra(
            dir,
            &["--config", cfg, "report", "exceptions", "--format", "csv"],
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("JUAN PEREZ"),
            "unmatched payment is an exception again"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_reconciles_after_import() {
    for b in backends().await {
        let t = spawn_app(b, "").await;
        let store = t.app.store.clone();
        for d in scenario() {
            store.ingest("test", &[d], None).await.unwrap();
            t.app.after_import();
        }
        let ok = eventually(30, || {
            let store = store.clone();
            async move {
                store.count("exceptions").await.unwrap_or(0) == 3
                    && store.count("allocations").await.unwrap_or(0) == 10
            }
        })
        .await;
        assert!(
            ok,
            "{b:?}: the daemon did not reconcile after the imports: {:?} {:?} {:#?} {:#?}",
            store.count("exceptions").await,
            store.count("allocations").await,
            allocations(&store).await,
            exceptions(&store).await
        );
        t.stop().await;
    }
    let _ = build_app;
}

/// What a crash between an import's commit and its reconciliation leaves (found by tests/faults, the SAT phase):
/// documents in the ledger, nothing reconciled. A daemon started on it reconciles once at start, with no new
/// import to trigger it. Before: nothing was reconciled until the next import.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_reconciles_at_start_what_a_crash_left() {
    for b in backends().await {
        let db = fresh_db(b).await;
        {
            let app = build_app(&db, "").await;
            for d in scenario() {
                app.store.ingest("test", &[d], None).await.unwrap();
            }
            app.store.close().await;
        }
        let app = build_app(&db, "").await;
        let running = cuadra::daemon::start(app.clone()).await.unwrap();
        let store = app.store.clone();
        let ok = eventually(60, || {
            let store = store.clone();
            async move {
                store.count("exceptions").await.unwrap_or(0) == 3
                    && store.count("allocations").await.unwrap_or(0) == 10
            }
        })
        .await;
        running.shutdown(std::time::Duration::from_secs(5)).await;
        assert!(
            ok,
            "{b:?}: the daemon did not reconcile at start: {:?} {:?}",
            store.count("exceptions").await,
            store.count("allocations").await
        );
    }
}

/// `report payments` counts each peso once: an MXN REP that fully paid a USD invoice is allocated in full (at its
/// line's `EquivalenciaDR`), and a bank credit that is the same money as a REP names that REP in
/// `same_as_payment_id` with nothing allocated or unallocated of its own. Before: 19604.00 and 3480.00 unallocated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_report_counts_foreign_reps_and_same_money_once() {
    for b in backends().await {
        let (store, _db) = open_store(b).await;
        let mxn = Currency::MXN;
        let mut rep_usd = payment(Pay {
            id: "rep-usd",
            kind: Some(PaymentKind::Rep),
            day: 6,
            amount: "19604.00",
            rfc: Some(USDCO),
            name: Some("Dollar Imports SC"),
            remittance: vec![RemittanceLine {
                invoice: InvoiceRef::Uuid(CfdiUuid::parse(&uuid_for(7)).unwrap()),
                amount: Some(Money::parse("1000.00", Currency::USD).unwrap()),
                equivalence: Some("0.05101".parse().unwrap()),
                installment: Some(1),
                balance_before: None,
                balance_after: None,
            }],
            ..Default::default()
        });
        rep_usd.kind = "cfdi".into();
        rep_usd.external_id = uuid_for(902);
        if let Record::Payment(p) = &mut rep_usd.records[0] {
            p.document_id = Some(uuid_for(902));
        }
        let bank = payment(Pay {
            id: "bank-2",
            day: 4,
            amount: "3480.00",
            referencia: Some("7001"),
            clave: Some("MBAN01002602040001"),
            ..Default::default()
        });
        let mut rep = rep_for(5, "3480.00", 4, Some("MBAN01002602040001"));
        rep.external_id = uuid_for(901);
        if let Record::Payment(p) = &mut rep.records[0] {
            p.external_id = "rep-2".into();
            p.document_id = Some(uuid_for(901));
        }
        load(
            &store,
            &[
                customers(),
                invoice(5, "B", "201", NORTE, "3480.00", mxn, 5),
                invoice(7, "U", "1", USDCO, "1000.00", Currency::USD, 5),
                bank,
                rep,
                rep_usd,
            ],
        )
        .await;
        reconcile::run(&store, &Options::default(), false)
            .await
            .unwrap();
        let t = store.report_payments().await.unwrap();
        assert_eq!(&t.columns[..12], &cuadra::store::PAYMENT_COLUMNS[..12]);
        assert_eq!(t.columns[12], "same_as_payment_id");
        let row = |ext: &str| {
            t.rows
                .iter()
                .find(|r| r[2] == ext)
                .unwrap_or_else(|| panic!("{b:?}: no {ext} in {:#?}", t.rows))
                .clone()
        };
        let (usd, bank, rep) = (row("rep-usd"), row("bank-2"), row("rep-2"));
        assert_eq!(
            (&usd[6][..], &usd[7][..]),
            ("19604.00", "0.00"),
            "{b:?} {usd:?}"
        );
        assert_eq!(
            (&rep[6][..], &rep[7][..]),
            ("3480.00", "0.00"),
            "{b:?} {rep:?}"
        );
        assert_eq!(
            (&bank[6][..], &bank[7][..], &bank[12][..]),
            ("0.00", "0.00", rep[0].as_str()),
            "{b:?} {bank:?}"
        );
        assert!(usd[12].is_empty() && rep[12].is_empty());
    }
}

/// An invoice `n` issued on a day of February 2026 (after the January invoices and among the payments).
fn invoice_in_february(n: u32, folio: &str, rfc: &str, total: &str, day: u32) -> Delivery {
    let mut d = invoice(n, "F", folio, rfc, total, Currency::MXN, 1);
    if let Record::Invoice(i) = &mut d.records[0] {
        i.issued_at = Utc.with_ymd_and_hms(2026, 2, day, 18, 0, 0).unwrap();
    }
    d
}

/// Issue 19 class 4: the money arrives first, the invoice 8–25 days later with the exact amount. The unapplied
/// payment is re-examined when the invoice arrives and taken as its prepayment when it is the customer's only
/// invoice of that balance issued within `prepayment_days`; two such invoices, or a shorter window, leave it an
/// exception.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepayment_applied_to_the_customers_only_later_invoice_of_that_amount() {
    for b in backends().await {
        let (store, _db) = open_store(b).await;
        let pay = |id: &'static str, amount: &'static str| {
            payment(Pay {
                id,
                day: 1,
                amount,
                account: Some(ACME_CLABE),
                concepto: Some("ANTICIPO"),
                ..Default::default()
            })
        };
        load(
            &store,
            &[
                customers(),
                invoice(40, "F", "700", ACME, "9999.99", Currency::MXN, 5),
                pay("pre", "2500.00"),
                pay("twice", "3100.00"),
            ],
        )
        .await;
        reconcile::run(&store, &Options::default(), false)
            .await
            .unwrap();
        let e = exceptions(&store).await;
        assert!(e["pre"].0.starts_with("no_amount_match"), "{e:#?}");
        // The invoices arrive 19 days later: one of 2,500.00, two of 3,100.00.
        load(
            &store,
            &[
                invoice_in_february(41, "701", ACME, "2500.00", 20),
                invoice_in_february(42, "702", ACME, "3100.00", 20),
                invoice_in_february(43, "703", ACME, "3100.00", 21),
            ],
        )
        .await;
        let short = Options {
            prepayment_days: 10,
            ..Options::default()
        };
        reconcile::run(&store, &short, false).await.unwrap();
        assert_eq!(
            of(&allocations(&store).await, "pre"),
            0,
            "outside a 10-day window"
        );
        reconcile::run(&store, &Options::default(), false)
            .await
            .unwrap();
        let a = allocations(&store).await;
        assert!(has(&a, "pre", "F-701", "2500.00", "prepayment"), "{a:#?}");
        assert_eq!(of(&a, "twice"), 0, "two later invoices of 3,100.00: {a:#?}");
        let e = exceptions(&store).await;
        assert!(!e.contains_key("pre"), "{e:#?}");
        assert!(e["twice"].0.starts_with("no_amount_match"), "{e:#?}");
        assert_eq!(
            balance(&store, "F-701").await,
            ("0.00".into(), "paid".into())
        );
        use sqlx::Row;
        let why: String = sqlx::query(
            "SELECT a.explanation FROM allocations a JOIN payments p ON p.id = a.payment_id WHERE p.external_id = 'pre'",
        )
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get(0);
        assert!(
            why.contains("issued 19 days after the payment (a prepayment; window 30 days)"),
            "{why}"
        );
    }
}
