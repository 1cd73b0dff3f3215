//! Odoo end to end: full pull, push of allocations, residuals, idempotency, reversal, Odoo 18 memo field.

use crate::support::{ctx, msg, odoo_settings};
use cuadra_erp::build_odoo;
use cuadra_sdk::{Record, Sink, Source};
use cuadra_testkit::erp::FakeOdoo;
use rust_decimal::Decimal;
use serde_json::json;
use std::str::FromStr;

const UUID1: &str = "6F1A2B3C-4D5E-4F60-8A7B-9C0D1E2F3A4B";

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("test decimal")
}

fn seed(fake: &FakeOdoo) -> (i64, i64, i64) {
    let acme = fake.add_partner(
        "Acme SA de CV",
        Some("AAA010101AAA"),
        Some("ap@acme.mx; cxp@acme.mx"),
    );
    let _b = fake.add_partner("Beta", Some("MXBBB010101BB1"), None);
    let _c = fake.add_partner("Gamma", None, Some("g@g.mx"));
    let inv1 = fake.add_invoice(
        acme,
        "INV/2024/00001",
        "1160.00",
        "MXN",
        "2024-05-01",
        "2024-05-31",
        Some(UUID1),
    );
    let inv2 = fake.add_invoice(
        acme,
        "INV/2024/00002",
        "2320.50",
        "MXN",
        "2024-05-02",
        "2024-06-01",
        None,
    );
    let inv3 = fake.add_invoice(
        acme,
        "INV/2024/00003",
        "99.99",
        "USD",
        "2024-05-03",
        "2024-06-02",
        None,
    );
    (inv1, inv2, inv3)
}

async fn pull_all(src: &dyn Source) -> (Vec<cuadra_sdk::Delivery>, cuadra_sdk::Checkpoint) {
    let mut cp = None;
    let mut all = Vec::new();
    for _ in 0..50 {
        let batch = src.pull(&ctx(), cp.clone()).await.expect("pull");
        all.extend(batch.deliveries);
        cp = Some(batch.checkpoint);
        if !batch.more {
            break;
        }
    }
    (all, cp.unwrap_or_default())
}

#[tokio::test]
async fn full_pull_then_push_updates_residuals() {
    let fake = FakeOdoo::start().await.expect("fake odoo");
    let (inv1, inv2, _inv3) = seed(&fake);
    let c = build_odoo(&odoo_settings(&fake)).expect("build");
    let (deliveries, cp) = pull_all(&c.source).await;
    let customers: Vec<_> = deliveries
        .iter()
        .flat_map(|d| &d.records)
        .filter_map(|r| match r {
            Record::Customer(c) => Some(c),
            _ => None,
        })
        .collect();
    let invoices: Vec<_> = deliveries
        .iter()
        .flat_map(|d| &d.records)
        .filter_map(|r| match r {
            Record::Invoice(i) => Some(i),
            _ => None,
        })
        .collect();
    assert_eq!(customers.len(), 3, "every customer once, across pages");
    assert_eq!(invoices.len(), 3);
    let acme = customers
        .iter()
        .find(|c| c.name.starts_with("Acme"))
        .expect("acme");
    assert_eq!(acme.rfc.as_ref().map(|r| r.as_str()), Some("AAA010101AAA"));
    assert_eq!(acme.emails, vec!["ap@acme.mx", "cxp@acme.mx"]);
    let beta = customers.iter().find(|c| c.name == "Beta").expect("beta");
    assert_eq!(
        beta.rfc.as_ref().map(|r| r.as_str()),
        Some("BBB010101BB1"),
        "MX prefix stripped"
    );
    let i1 = invoices
        .iter()
        .find(|i| i.erp_id.as_deref() == Some(&inv1.to_string()))
        .expect("inv1");
    assert_eq!(
        i1.uuid.as_ref().map(|u| u.as_str()),
        Some(UUID1.to_ascii_lowercase().as_str())
    );
    assert_eq!(i1.total.amount(), dec("1160.00"));
    assert_eq!(i1.erp_residual, Some(dec("1160")));
    assert_eq!(i1.due_at.map(|d| d.to_string()), Some("2024-05-31".into()));
    assert_eq!(i1.version, "erp");
    assert_eq!(
        (i1.serie.as_deref(), i1.folio.as_deref()),
        (Some("INV/2024/"), Some("1"))
    );
    assert_eq!(
        i1.customer_rfc.as_ref().map(|r| r.as_str()),
        Some("AAA010101AAA")
    );
    let i2 = invoices
        .iter()
        .find(|i| i.erp_id.as_deref() == Some(&inv2.to_string()))
        .expect("inv2");
    assert_eq!(
        i2.total.amount(),
        dec("2320.5"),
        "amount read exactly from the float literal"
    );

    // Nothing changed: the next run brings nothing new (the last second is read again, byte-identical).
    let (again, _) = pull_all_from(&c.source, cp.clone()).await;
    for d in &again {
        assert!(
            deliveries
                .iter()
                .any(|o| o.external_id == d.external_id && o.raw == d.raw),
            "{}",
            d.external_id
        );
    }

    // Push: by UUID and by ERP id.
    let sink = &c.sink;
    let r1 = sink.deliver(&msg("k1", "allocation.created", json!({"id": "A1", "invoice_uuid": UUID1, "amount": "1160.00", "currency": "MXN", "payment_date": "2024-06-01", "method": "spei", "explanation": "exact"}))).await.expect("deliver 1");
    let r2 = sink.deliver(&msg("k2", "allocation.created", json!({"id": 2, "invoice_erp_id": inv2.to_string(), "amount": "1000.25", "currency": "MXN"}))).await.expect("deliver 2");
    assert!(r1.remote_id.is_some() && r2.remote_id.is_some());
    assert_eq!(fake.residual(inv1), Some(Decimal::ZERO));
    assert_eq!(fake.payment_state(inv1).as_deref(), Some("paid"));
    assert_eq!(fake.residual(inv2), Some(dec("1320.25")));
    assert_eq!(fake.payment_state(inv2).as_deref(), Some("partial"));
    let p = fake.payments();
    assert_eq!(p.len(), 2);
    assert_eq!(p[0].get("ref"), Some(&json!("cuadra:A1")));
    assert_eq!(
        p[1].get("date"),
        Some(&json!("2024-06-02")),
        "defaults to the message date"
    );

    // The updated invoices come back on the next pull with the new residuals.
    let (changed, _) = pull_all_from(&c.source, cp).await;
    let res: Vec<_> = changed
        .iter()
        .flat_map(|d| &d.records)
        .filter_map(|r| match r {
            Record::Invoice(i) => Some((i.erp_id.clone(), i.erp_residual)),
            _ => None,
        })
        .collect();
    assert!(
        res.contains(&(Some(inv1.to_string()), Some(Decimal::ZERO))),
        "{res:?}"
    );
    assert!(
        res.contains(&(Some(inv2.to_string()), Some(dec("1320.25")))),
        "{res:?}"
    );
}

async fn pull_all_from(
    src: &dyn Source,
    cp: cuadra_sdk::Checkpoint,
) -> (Vec<cuadra_sdk::Delivery>, cuadra_sdk::Checkpoint) {
    let mut cp = Some(cp);
    let mut all = Vec::new();
    loop {
        let b = src.pull(&ctx(), cp.clone()).await.expect("pull");
        all.extend(b.deliveries);
        cp = Some(b.checkpoint);
        if !b.more {
            return (all, cp.unwrap_or_default());
        }
    }
}

#[tokio::test]
async fn same_allocation_twice_makes_one_payment() {
    let fake = FakeOdoo::start().await.expect("fake odoo");
    let (inv1, _, _) = seed(&fake);
    let c = build_odoo(&odoo_settings(&fake)).expect("build");
    let m = msg(
        "k1",
        "allocation.created",
        json!({"id": "A1", "invoice_erp_id": inv1, "amount": "500", "currency": "MXN"}),
    );
    let a = c.sink.deliver(&m).await.expect("first");
    let b = c.sink.deliver(&m).await.expect("second");
    assert_eq!(a.remote_id, b.remote_id);
    assert_eq!(fake.payments().len(), 1);
    assert_eq!(fake.residual(inv1), Some(dec("660")));
    // A10 is not A1: the token match is exact.
    c.sink
        .deliver(&msg(
            "k2",
            "allocation.created",
            json!({"id": "A10", "invoice_erp_id": inv1, "amount": "60", "currency": "MXN"}),
        ))
        .await
        .expect("A10");
    assert_eq!(fake.payments().len(), 2);
    let wizard_creates = fake
        .calls()
        .iter()
        .filter(|c| {
            c.model.as_deref() == Some("account.payment.register")
                && c.model_method.as_deref() == Some("create")
        })
        .count();
    assert_eq!(wizard_creates, 2);
}

#[tokio::test]
async fn reversal_restores_the_residual_and_is_idempotent() {
    for version in [17, 18] {
        let fake = FakeOdoo::start().await.expect("fake odoo");
        fake.set_version(version);
        let (inv1, _, _) = seed(&fake);
        let c = build_odoo(&odoo_settings(&fake)).expect("build");
        let created = c
            .sink
            .deliver(&msg(
                "k1",
                "allocation.created",
                json!({"id": "A7", "invoice_uuid": UUID1, "amount": "160.00", "currency": "MXN"}),
            ))
            .await
            .expect("create");
        assert_eq!(fake.residual(inv1), Some(dec("1000")));
        let removed = c
            .sink
            .deliver(&msg(
                "k2",
                "allocation.removed",
                json!({"id": "A7", "invoice_uuid": UUID1}),
            ))
            .await
            .expect("remove");
        assert_eq!(created.remote_id, removed.remote_id);
        assert_eq!(fake.residual(inv1), Some(dec("1160")));
        assert_eq!(fake.payment_state(inv1).as_deref(), Some("not_paid"));
        let cancel = if version >= 18 { "canceled" } else { "cancel" };
        assert_eq!(fake.payments()[0].get("state"), Some(&json!(cancel)));
        // Again: nothing more happens.
        c.sink
            .deliver(&msg("k2", "allocation.removed", json!({"id": "A7"})))
            .await
            .expect("remove again");
        assert_eq!(fake.residual(inv1), Some(dec("1160")));
        // Removing an allocation never pushed is fine.
        let none = c
            .sink
            .deliver(&msg("k3", "allocation.removed", json!({"id": "never"})))
            .await
            .expect("remove unknown");
        assert!(none.remote_id.is_none());
        // Re-created after removal: a new payment (the cancelled one does not count).
        c.sink
            .deliver(&msg(
                "k4",
                "allocation.created",
                json!({"id": "A7", "invoice_uuid": UUID1, "amount": "160.00", "currency": "MXN"}),
            ))
            .await
            .expect("recreate");
        assert_eq!(fake.payments().len(), 2);
        if version >= 18 {
            assert_eq!(fake.payments()[1].get("memo"), Some(&json!("cuadra:A7")));
        }
    }
}

#[tokio::test]
async fn other_events_are_acknowledged_without_calls() {
    let fake = FakeOdoo::start().await.expect("fake odoo");
    let c = build_odoo(&odoo_settings(&fake)).expect("build");
    c.sink
        .deliver(&msg("k1", "invoice.updated", json!({"uuid": UUID1})))
        .await
        .expect("ack");
    assert!(fake.calls().is_empty());
}
