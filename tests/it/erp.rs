//! ERP and CRM end to end through the durable outbox, on SQLite and PostgreSQL: a full pull from a fake Odoo then
//! allocations pushed back as registered payments (and reversed on unmatch); a generic receiver down for a while;
//! a worker killed with messages in flight; a poison message in the dead letters; the inbound ERP webhook.
//!
//! Longer than our ~600 lines on purpose: one capability's suite, whose cases share the fixtures built here.

use super::helpers::{backends, build_app, config_path, cuadra, eventually, fresh_db, spawn_app};
use chrono::{NaiveDate, TimeZone, Utc};
use cuadra::app::App;
use cuadra::outbox::{deliver_once, Delivery as OutboxState};
use cuadra_sdk::*;
use cuadra_testkit::erp::{
    FakeOdoo, Outage, Receiver, ReceiverFailure, API_KEY, DATABASE, USERNAME,
};
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

/// A ledger pulled from `odoo` with two allocations (p1 → A101 by the engine, p2 → A102 by hand), plus `extra`
/// connectors. Nothing delivered yet.
async fn pulled_and_matched(
    b: super::helpers::Backend,
    odoo: &FakeOdoo,
    extra: &str,
) -> (super::helpers::TestDb, App) {
    let db = fresh_db(b).await;
    let app = build_app(&db, &format!("{OUTBOX}{}{extra}", odoo_toml(odoo))).await;
    let conn = app.connector("odoo").unwrap().clone();
    cuadra::daemon::run_source_once(&app, &conn).await.unwrap();
    app.store
        .ingest(
            "bank",
            &[
                bank_payment("p1", "1160.00", "PAGO FACTURA A101"),
                bank_payment("p2", "1000.00", "ANTICIPO"),
            ],
            None,
        )
        .await
        .unwrap();
    app.reconcile_now().await.unwrap();
    let a102 = id_of(&app, "SELECT id FROM invoices WHERE folio = $1", "102").await;
    let p2 = id_of(&app, "SELECT id FROM payments WHERE external_id = $1", "p2").await;
    app.store
        .manual_match(p2, &[(a102, None)], "test")
        .await
        .unwrap();
    (db, app)
}

/// The outbox rows of one connector, by idempotency key.
async fn rows_of(app: &App, connector: &str) -> HashMap<String, cuadra::store::OutboxRow> {
    app.store
        .outbox_list(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.connector == connector)
        .map(|r| (r.idempotency_key.clone(), r))
        .collect()
}

/// Every message the receiver accepted is one of ours, each of ours arrived, and per invoice they arrived in the
/// order they were written.
async fn assert_received_all_in_order(app: &App, r: &Receiver, what: &str) {
    assert_received_all(app, r, what, true).await
}

/// As [`assert_received_all_in_order`], the order checked or not (a dead letter retried by hand arrives after the
/// later messages of its invoice, which did not wait for it).
async fn assert_received_all(app: &App, r: &Receiver, what: &str, in_order: bool) {
    let rows = rows_of(app, "hooks").await;
    let got = r.received();
    let mut first_seen: Vec<&cuadra::store::OutboxRow> = Vec::new();
    for m in &got {
        let row = rows
            .get(&m.id)
            .unwrap_or_else(|| panic!("{what}: unknown webhook-id {}", m.id));
        assert_eq!(m.json["id"], m.id.as_str(), "{what}: body id = webhook-id");
        assert_eq!(m.json["type"], row.event_type.as_str(), "{what}");
        if !first_seen.iter().any(|x| x.id == row.id) {
            first_seen.push(row);
        }
    }
    assert_eq!(
        first_seen.len(),
        rows.len(),
        "{what}: every message arrived"
    );
    let mut last: HashMap<&str, i64> = HashMap::new();
    for row in first_seen.into_iter().filter(|_| in_order) {
        if let Some(prev) = last.insert(&row.ordering_key, row.id) {
            assert!(prev < row.id, "{what}: {} out of order", row.ordering_key);
        }
    }
    assert!(rows.values().all(|r| r.state == "delivered"), "{what}");
}

/// Odoo's payments carry one memo token per allocation, never two.
fn assert_one_payment_per_allocation(odoo: &FakeOdoo, expected: usize, what: &str) {
    let mut memos: Vec<String> = odoo
        .payments()
        .iter()
        .map(|p| {
            let f = |k: &str| p.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
            format!("{}{}", f("ref"), f("memo"))
        })
        .collect();
    memos.sort();
    let n = memos.len();
    memos.dedup();
    assert_eq!(
        memos.len(),
        n,
        "{what}: a payment registered twice: {memos:?}"
    );
    assert_eq!(n, expected, "{what}: {memos:?}");
}

/// Both peers down for a while (503, 503/429 with Retry-After, a timeout), then back: everything arrives, per
/// invoice in order, with the same webhook-id on retries; nothing twice in Odoo.
#[tokio::test]
async fn receivers_down_then_back() {
    for b in backends().await {
        let odoo = FakeOdoo::start().await.unwrap();
        let moves = seed_odoo(&odoo);
        let hooks = Receiver::start(SECRET).await.unwrap();
        let (_db, app) = pulled_and_matched(b, &odoo, &http_toml(&hooks)).await;
        hooks.fail_next(1, ReceiverFailure::Status(503));
        hooks.fail_next(1, ReceiverFailure::RateLimited(1));
        hooks.fail_next(
            1,
            ReceiverFailure::Delay(std::time::Duration::from_millis(1500)),
        );
        hooks.fail_next(1, ReceiverFailure::Status(502));
        odoo.fail_next(1, Outage::Status(503));
        odoo.fail_next(1, Outage::Unavailable(1));
        odoo.fail_next(1, Outage::RateLimited(1));
        let state = OutboxState::default();
        drain(&app, &state).await;
        let retried = app
            .store
            .outbox_list(Some("delivered"))
            .await
            .unwrap()
            .iter()
            .filter(|r| r.attempts > 1)
            .count();
        assert!(
            retried >= 2,
            "{b:?}: the outages were seen ({retried} retried)"
        );
        assert_received_all_in_order(&app, &hooks, &format!("{b:?}")).await;
        assert_eq!(hooks.rejected(), 0, "{b:?}: every signature verifies");
        assert_one_payment_per_allocation(&odoo, 2, &format!("{b:?}"));
        assert_residuals_agree(&app, &odoo, &moves, "after the outage").await;
        assert!(app
            .store
            .outbox_list(Some("dead"))
            .await
            .unwrap()
            .is_empty());
    }
}

/// A worker claimed messages and died before sending them: a new process on the same database delivers them once
/// the claims expire (claims last `CLAIM_SECS` = 120 s; the test moves the clock instead of waiting).
#[tokio::test]
async fn killed_with_messages_in_flight() {
    for b in backends().await {
        let odoo = FakeOdoo::start().await.unwrap();
        seed_odoo(&odoo);
        let hooks = Receiver::start(SECRET).await.unwrap();
        let (db, app) = pulled_and_matched(b, &odoo, &http_toml(&hooks)).await;
        let sinks = cuadra::outbox::sink_names(&app);
        app.store.publish_changes(&sinks).await.unwrap();
        let now = app.store.now();
        let due = app.store.outbox_due(now, 1000).await.unwrap();
        assert!(due.len() >= 4, "{b:?}");
        for r in &due {
            let until = now + chrono::Duration::seconds(120);
            assert!(app
                .store
                .outbox_claim(r.id, "dead-worker", now, until)
                .await
                .unwrap());
        }
        drop(app);
        // Restarted at once: the claims still hold, nothing is sent twice.
        let restarted = build_app(
            &db,
            &format!("{OUTBOX}{}{}", odoo_toml(&odoo), http_toml(&hooks)),
        )
        .await;
        deliver_once(&restarted, &OutboxState::default())
            .await
            .unwrap();
        assert!(hooks.received().is_empty(), "{b:?}: claimed messages wait");
        // Later: the claims expired, everything is delivered, once.
        let later: cuadra::store::Clock = Arc::new(|| Utc::now() + chrono::Duration::seconds(150));
        let restarted = restarted.with_clock(later);
        let state = OutboxState::default();
        drain(&restarted, &state).await;
        deliver_once(&restarted, &state).await.unwrap();
        assert_received_all_in_order(&restarted, &hooks, &format!("{b:?}")).await;
        let ids: Vec<String> = hooks.received().into_iter().map(|m| m.id).collect();
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "{b:?}: once each");
        assert_one_payment_per_allocation(&odoo, 2, &format!("{b:?}"));
    }
}

fn csv_ids(out: &std::process::Output) -> Vec<i64> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next()?.parse().ok())
        .collect()
}

/// A message the receiver refuses (400) goes to the dead letters while the rest flow; `cuadra outbox list --state
/// dead` shows it and `cuadra outbox retry ID` sends it again.
#[tokio::test]
async fn poison_message_dead_letter_and_retry() {
    for b in backends().await {
        let odoo = FakeOdoo::start().await.unwrap();
        seed_odoo(&odoo);
        let hooks = Receiver::start(SECRET).await.unwrap();
        let (db, app) = pulled_and_matched(b, &odoo, &http_toml(&hooks)).await;
        hooks.fail_next(1, ReceiverFailure::Status(400));
        let state = OutboxState::default();
        drain(&app, &state).await;
        let dead = app.store.outbox_list(Some("dead")).await.unwrap();
        assert_eq!(dead.len(), 1, "{b:?}");
        assert_eq!(dead[0].connector, "hooks");
        assert_eq!(dead[0].attempts, 1, "{b:?}: a 400 is not retried");
        let total = rows_of(&app, "hooks").await.len();
        assert_eq!(hooks.received().len(), total - 1, "{b:?}: the rest flowed");
        assert_one_payment_per_allocation(&odoo, 2, &format!("{b:?}"));

        let cfg = config_path(&db);
        let cfg = cfg.to_str().unwrap();
        let dir = db.dir.path();
        let listed = csv_ids(&cuadra(
            dir,
            &[
                "--config", cfg, "outbox", "list", "--state", "dead", "--format", "csv",
            ],
        ));
        assert_eq!(listed, vec![dead[0].id], "{b:?}");
        let id = dead[0].id.to_string();
        let o = cuadra(dir, &["--config", cfg, "outbox", "retry", &id]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        drain(&app, &state).await;
        assert_received_all(&app, &hooks, &format!("{b:?}"), false).await;
        let listed = csv_ids(&cuadra(
            dir,
            &[
                "--config", cfg, "outbox", "list", "--state", "dead", "--format", "csv",
            ],
        ));
        assert!(listed.is_empty(), "{b:?}");
    }
}

/// The ERP pushes a change to `/webhooks/NAME`: a signed `invoice.updated` moves the due date; a bad signature is
/// refused with 401 and changes nothing.
#[tokio::test]
async fn inbound_webhook_updates_due_date() {
    for b in backends().await {
        let t = spawn_app(
            b,
            &format!("[connectors.erp]\nkind = \"http\"\nwebhook_secret = \"{SECRET}\"\n"),
        )
        .await;
        t.app
            .store
            .ingest("sat", &[cfdi_a101()], None)
            .await
            .unwrap();
        let key = cuadra_sdk::standard_webhooks::SigningKey::parse(SECRET).unwrap();
        let client = reqwest::Client::new();
        let url = format!("{}/webhooks/erp", t.base);
        let post = |id: &str, due: &str, good: bool| {
            let body = serde_json::json!({
                "id": id, "type": "invoice.updated", "timestamp": Utc::now().to_rfc3339(),
                "data": {"erp_id": "INV-101", "uuid": U1, "serie": "A", "folio": "101", "customer_rfc": ACME,
                         "issued_at": "2026-01-05", "due_date": due, "total": "1160.00", "currency": "MXN",
                         "residual": "1160.00"}
            })
            .to_string();
            let ts = Utc::now().timestamp();
            let sig = if good {
                key.sign(id, ts, body.as_bytes())
            } else {
                key.sign(id, ts, b"something else")
            };
            client
                .post(&url)
                .header("webhook-id", id)
                .header("webhook-timestamp", ts.to_string())
                .header("webhook-signature", sig)
                .header("content-type", "application/json")
                .body(body)
                .send()
        };
        let r = post("msg_bad", "2026-04-01", false).await.unwrap();
        assert_eq!(r.status().as_u16(), 401, "{b:?}");
        let r = post("msg_1", "2026-03-15", true).await.unwrap();
        assert!(r.status().is_success(), "{b:?}: {}", r.status());
        let app = t.app.clone();
        let ok = eventually(10, || {
            let app = app.clone();
            async move { ledger_balances(&app).await["A101"].1 == "2026-03-15" }
        })
        .await;
        assert!(ok, "{b:?}: {:?}", ledger_balances(&app).await);
        let n = id_of(&app, "SELECT COUNT(*) FROM invoices WHERE $1 = $1", "").await;
        assert_eq!(n, 1, "{b:?}: merged by UUID");
        t.stop().await;
    }
}
