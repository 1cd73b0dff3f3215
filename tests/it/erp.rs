//! ERP and CRM end to end through the durable outbox, on SQLite and PostgreSQL: a full pull from a fake Odoo then
//! allocations pushed back as registered payments (and reversed on unmatch); a generic receiver down for a while;
//! a worker killed with messages in flight; a poison message in the dead letters; the inbound ERP webhook.

use super::helpers::{backends, build_app, config_path, cuadra, eventually, fresh_db, spawn_app};
use chrono::{NaiveDate, TimeZone, Utc};
use cuadra::app::App;
use cuadra::outbox::{deliver_once, Delivery as OutboxState};
use cuadra_erp::fake::{FakeOdoo, Outage, Receiver, ReceiverFailure, API_KEY, DATABASE, USERNAME};
use cuadra_sdk::*;
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

const COMPANY: &str = "EKU9003173C9";
const ACME: &str = "AAA010101AAA";
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const U1: &str = "0a1b2c3d-0000-4000-8000-000000000101";
const U2: &str = "0a1b2c3d-0000-4000-8000-000000000102";
const OUTBOX: &str = "[outbox]\nretry_schedule_secs = [1]\nmax_attempts = 10\nconcurrency = 4\n";

fn odoo_toml(o: &FakeOdoo) -> String {
    format!(
        "[connectors.odoo]\nkind = \"odoo\"\nurl = \"{}\"\ndatabase = \"{DATABASE}\"\nusername = \"{USERNAME}\"\n\
         api_key = \"{API_KEY}\"\njournal = \"Bank\"\ntimeout_secs = 2\n",
        o.url()
    )
}

fn http_toml(r: &Receiver) -> String {
    format!(
        "[connectors.hooks]\nkind = \"http\"\nevents_url = \"{}\"\nsigning_secret = \"{SECRET}\"\ntimeout_secs = 1\n",
        r.url()
    )
}

/// Odoo with one customer and three posted invoices (two with their CFDI UUID). Returns the move ids by name.
fn seed_odoo(o: &FakeOdoo) -> BTreeMap<&'static str, i64> {
    let p = o.add_partner("Acme Industrial", Some(ACME), Some("ap@acme.mx"));
    let mut m = BTreeMap::new();
    for (name, total, uuid) in [
        ("A101", "1160.00", Some(U1)),
        ("A102", "2320.00", Some(U2)),
        ("A103", "500.00", None),
    ] {
        m.insert(
            name,
            o.add_invoice(p, name, total, "MXN", "2026-01-05", "2026-02-20", uuid),
        );
    }
    m
}

/// The CFDI of A101 as the SAT has it (no due date): the ERP's copy merges into it by UUID.
fn cfdi_a101() -> Delivery {
    Delivery {
        kind: "cfdi".into(),
        external_id: U1.into(),
        raw: format!("<cfdi uuid='{U1}'/>").into_bytes(),
        records: vec![Record::Invoice(InvoiceRecord {
            uuid: Some(CfdiUuid::parse(U1).unwrap()),
            serie: Some("A".into()),
            folio: Some("101".into()),
            issuer_rfc: Some(Rfc::parse(COMPANY).unwrap()),
            customer_rfc: Some(Rfc::parse(ACME).unwrap()),
            customer_name: None,
            issued_at: Utc.with_ymd_and_hms(2026, 1, 5, 18, 0, 0).unwrap(),
            due_at: None,
            total: Money::parse("1160.00", Currency::MXN).unwrap(),
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

fn bank_payment(id: &str, amount: &str, concepto: &str) -> Delivery {
    Delivery {
        kind: "test-bank".into(),
        external_id: id.into(),
        raw: format!("payment {id}").into_bytes(),
        records: vec![Record::Payment(PaymentRecord {
            kind: PaymentKind::Bank,
            external_id: id.into(),
            own_account: Some("012180009999999999".into()),
            booked_on: NaiveDate::from_ymd_opt(2026, 2, 3).unwrap(),
            value_date: None,
            amount: Money::parse(amount, Currency::MXN).unwrap(),
            bank_reference: None,
            clave_rastreo: None,
            payer_name: Some("ACME INDUSTRIAL SA DE CV".into()),
            payer_rfc: Some(ACME.into()),
            payer_account: None,
            referencia_numerica: None,
            concepto: Some(concepto.into()),
            document_id: None,
            operation_number: None,
            remittance: vec![],
            customer_hint: None,
            status: None,
        })],
    }
}

async fn id_of(app: &App, sql: &str, key: &str) -> i64 {
    sqlx::query(sql)
        .bind(key)
        .fetch_one(app.store.pool())
        .await
        .unwrap()
        .get::<i64, _>(0)
}

/// Delivers until nothing is pending (bounded; retries are due after about a second).
async fn drain(app: &App, state: &OutboxState) {
    for _ in 0..80 {
        let n = deliver_once(app, state).await.unwrap();
        if app
            .store
            .outbox_list(Some("pending"))
            .await
            .unwrap()
            .is_empty()
        {
            return;
        }
        if n == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }
    panic!(
        "the outbox did not drain: {:?}",
        app.store.outbox_list(Some("pending")).await.unwrap()
    );
}

/// Balance per invoice name (serie + folio) from `report invoices`.
async fn ledger_balances(app: &App) -> BTreeMap<String, (String, String)> {
    let t = app.store.report_invoices().await.unwrap();
    let col = |n: &str| t.columns.iter().position(|c| *c == n).unwrap();
    let (s, f, due, bal) = (col("serie"), col("folio"), col("due_at"), col("balance"));
    t.rows
        .iter()
        .map(|r| {
            (
                format!("{}{}", r[s], r[f]),
                (r[bal].clone(), r[due].clone()),
            )
        })
        .collect()
}

/// Every invoice's residual in Odoo equals its balance in the ledger.
async fn assert_residuals_agree(
    app: &App,
    odoo: &FakeOdoo,
    moves: &BTreeMap<&str, i64>,
    what: &str,
) {
    let ledger = ledger_balances(app).await;
    for (name, id) in moves {
        let theirs = odoo.residual(*id).unwrap();
        let ours = parse_decimal(&ledger[*name].0).unwrap();
        assert_eq!(
            ours, theirs,
            "{what}: {name}: ledger {ours} vs Odoo {theirs}"
        );
    }
}

fn live_payments(odoo: &FakeOdoo) -> usize {
    odoo.payments()
        .iter()
        .filter(|p| {
            !matches!(
                p.get("state").and_then(|s| s.as_str()),
                Some("cancel" | "canceled")
            )
        })
        .count()
}

fn register_calls(odoo: &FakeOdoo) -> usize {
    odoo.calls()
        .iter()
        .filter(|c| {
            c.model.as_deref() == Some("account.payment.register")
                && c.model_method.as_deref() == Some("create")
        })
        .count()
}

/// Pull from Odoo, reconcile, push back: Odoo and `report invoices` agree on every residual; unmatch reverses.
#[tokio::test]
async fn odoo_full_pull_then_push() {
    for b in backends().await {
        let odoo = FakeOdoo::start().await.unwrap();
        let moves = seed_odoo(&odoo);
        let db = fresh_db(b).await;
        let app = build_app(&db, &format!("{OUTBOX}{}", odoo_toml(&odoo))).await;
        app.store.ingest("sat", &[cfdi_a101()], None).await.unwrap();
        let conn = app.connector("odoo").expect("odoo connector").clone();
        let run = cuadra::daemon::run_source_once(&app, &conn).await.unwrap();
        assert!(run.new >= 4, "{b:?}: {run:?}");
        // Customers and invoices in the ledger; A101 merged by UUID with its CFDI; ERP due dates.
        let n = id_of(&app, "SELECT COUNT(*) FROM invoices WHERE $1 = $1", "").await;
        assert_eq!(n, 3, "{b:?}: A101 merged with its CFDI");
        let c = id_of(&app, "SELECT COUNT(*) FROM customers WHERE rfc = $1", ACME).await;
        assert_eq!(c, 1, "{b:?}");
        let ledger = ledger_balances(&app).await;
        for name in ["A101", "A102", "A103"] {
            assert_eq!(
                ledger[name].1, "2026-02-20",
                "{b:?}: {name} due date from the ERP"
            );
        }
        assert_residuals_agree(&app, &odoo, &moves, "after pull").await;

        // A payment citing A101 with its exact amount (the engine), and a partial payment matched by hand to A102.
        app.store
            .ingest(
                "bank",
                &[bank_payment("p1", "1160.00", "PAGO FACTURA A101")],
                None,
            )
            .await
            .unwrap();
        app.store
            .ingest("bank", &[bank_payment("p2", "1000.00", "ANTICIPO")], None)
            .await
            .unwrap();
        app.reconcile_now().await.unwrap();
        let a101 = id_of(&app, "SELECT id FROM invoices WHERE folio = $1", "101").await;
        let a102 = id_of(&app, "SELECT id FROM invoices WHERE folio = $1", "102").await;
        let p1 = id_of(&app, "SELECT id FROM payments WHERE external_id = $1", "p1").await;
        let p2 = id_of(&app, "SELECT id FROM payments WHERE external_id = $1", "p2").await;
        let auto = sqlx::query("SELECT COUNT(*) FROM allocations WHERE payment_id = $1 AND invoice_id = $2 AND removed_at IS NULL")
            .bind(p1)
            .bind(a101)
            .fetch_one(app.store.pool())
            .await
            .unwrap()
            .get::<i64, _>(0);
        assert_eq!(
            auto, 1,
            "{b:?}: the engine pays A101 with p1 (RFC, folio, exact amount)"
        );
        let m = app
            .store
            .manual_match(p2, &[(a102, None)], "test")
            .await
            .unwrap();
        let partial = m.allocation_ids[0];

        let state = OutboxState::default();
        drain(&app, &state).await;
        assert_eq!(
            live_payments(&odoo),
            2,
            "{b:?}: one registered payment per allocation"
        );
        assert_eq!(
            odoo.payment_state(moves["A101"]).as_deref(),
            Some("paid"),
            "{b:?}"
        );
        assert_residuals_agree(&app, &odoo, &moves, "after push").await;
        let ledger = ledger_balances(&app).await;
        assert_eq!(ledger["A102"].0, "1320.00", "{b:?}");

        // A second pass creates nothing more in Odoo.
        let calls = register_calls(&odoo);
        deliver_once(&app, &state).await.unwrap();
        deliver_once(&app, &state).await.unwrap();
        assert_eq!(register_calls(&odoo), calls, "{b:?}");
        assert_eq!(live_payments(&odoo), 2, "{b:?}");

        // Unmatch: the payment is reversed in Odoo and the residual comes back.
        app.store.unmatch(partial, "test").await.unwrap();
        drain(&app, &state).await;
        assert_eq!(live_payments(&odoo), 1, "{b:?}");
        assert_eq!(
            odoo.residual(moves["A102"]).unwrap(),
            parse_decimal("2320").unwrap()
        );
        assert_residuals_agree(&app, &odoo, &moves, "after unmatch").await;
        assert!(
            app.store
                .outbox_list(Some("dead"))
                .await
                .unwrap()
                .is_empty(),
            "{b:?}"
        );
    }
}
