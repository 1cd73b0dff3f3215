//! Every Odoo error class: wrong key, unknown journal, overpayment, outages (503, 429, timeouts), unknown
//! invoice, bad payload; and secrets never in errors or Debug output.

use crate::support::{ctx, msg, odoo_settings};
use cuadra_erp::build_odoo;
use cuadra_sdk::{ConnectorError, Sink, SinkError, Source};
use cuadra_testkit::erp::{FakeOdoo, Outage};
use secrecy::SecretString;
use serde_json::json;
use std::time::Duration;

fn alloc(inv: i64, amount: &str) -> cuadra_sdk::OutboundMessage {
    msg(
        "k",
        "allocation.created",
        json!({"id": "A1", "invoice_erp_id": inv, "amount": amount, "currency": "MXN"}),
    )
}

async fn setup() -> (FakeOdoo, i64) {
    let fake = FakeOdoo::start().await.expect("fake");
    let p = fake.add_partner("Acme", Some("AAA010101AAA"), None);
    let inv = fake.add_invoice(
        p,
        "INV/1",
        "100.00",
        "MXN",
        "2024-05-01",
        "2024-05-31",
        None,
    );
    (fake, inv)
}

#[tokio::test]
async fn wrong_api_key_is_permanent_and_not_leaked() {
    let (fake, inv) = setup().await;
    let mut s = odoo_settings(&fake);
    s.api_key = Some(SecretString::from("wrong-key-XYZ"));
    let c = build_odoo(&s).expect("build");
    let e = c
        .sink
        .deliver(&alloc(inv, "10"))
        .await
        .expect_err("refused");
    assert!(
        matches!(&e, SinkError::Permanent(m) if m.contains("login failed")),
        "{e:?}"
    );
    assert!(!format!("{e} {e:?} {c:?}").contains("wrong-key-XYZ"));
    let e = c.source.pull(&ctx(), None).await.expect_err("refused");
    assert!(matches!(e, ConnectorError::Config(_)), "{e:?}");
    // Key revoked after login: execute_kw answers AccessDenied.
    let good = build_odoo(&odoo_settings(&fake)).expect("build");
    good.client.uid().await.expect("login");
    fake.state().api_key = "rotated".into();
    let e = good.source.pull(&ctx(), None).await.expect_err("denied");
    assert!(
        matches!(&e, ConnectorError::Config(m) if m.contains("AccessDenied")),
        "{e:?}"
    );
}

#[tokio::test]
async fn validation_errors_are_permanent() {
    let (fake, inv) = setup().await;
    let c = build_odoo(&odoo_settings(&fake)).expect("build");
    let e = c
        .sink
        .deliver(&alloc(inv, "100.01"))
        .await
        .expect_err("overpayment");
    assert!(
        matches!(&e, SinkError::Permanent(m) if m.contains("ValidationError") && m.contains("exceeds")),
        "{e:?}"
    );
    assert!(fake.payments().is_empty());
    let e = c
        .sink
        .deliver(&alloc(9999, "1"))
        .await
        .expect_err("unknown invoice");
    assert!(
        matches!(&e, SinkError::Permanent(m) if m.contains("not found")),
        "{e:?}"
    );
    let e = c
        .sink
        .deliver(&msg(
            "k",
            "allocation.created",
            json!({"id": "A", "invoice_erp_id": inv, "amount": "1", "currency": "USD"}),
        ))
        .await
        .expect_err("currency");
    assert!(
        matches!(&e, SinkError::Permanent(m) if m.contains("cross-currency")),
        "{e:?}"
    );
    for (payload, field) in [
        (
            json!({"invoice_erp_id": inv, "amount": "1", "currency": "MXN"}),
            "id",
        ),
        (
            json!({"id": "A", "invoice_erp_id": inv, "amount": "uno", "currency": "MXN"}),
            "amount",
        ),
        (
            json!({"id": "A", "invoice_erp_id": inv, "amount": "-5", "currency": "MXN"}),
            "amount",
        ),
        (
            json!({"id": "A", "amount": "1", "currency": "MXN"}),
            "invoice_erp_id",
        ),
        (
            json!({"id": "A", "invoice_erp_id": inv, "amount": "1", "currency": "MXN", "payment_date": "2024-13-01"}),
            "payment_date",
        ),
    ] {
        let e = c
            .sink
            .deliver(&msg("k", "allocation.created", payload))
            .await
            .expect_err("bad payload");
        assert!(
            matches!(&e, SinkError::Permanent(m) if m.contains(&format!("field {field}"))),
            "{field}: {e:?}"
        );
    }
    let mut s = odoo_settings(&fake);
    s.journal = Some("Caja chica".into());
    let c = build_odoo(&s).expect("build");
    let e = c.sink.deliver(&alloc(inv, "1")).await.expect_err("journal");
    assert!(
        matches!(&e, SinkError::Permanent(m) if m.contains("journal")),
        "{e:?}"
    );
}

#[tokio::test]
async fn outages_are_retryable_then_delivered_once() {
    let (fake, inv) = setup().await;
    let c = build_odoo(&odoo_settings(&fake)).expect("build");
    fake.fail_next(1, Outage::Status(503));
    let e = c.sink.deliver(&alloc(inv, "10")).await.expect_err("503");
    assert!(matches!(e, SinkError::Retryable(_)), "{e:?}");
    fake.fail_next(1, Outage::Status(502));
    assert!(matches!(
        c.sink.deliver(&alloc(inv, "10")).await,
        Err(SinkError::Retryable(_))
    ));
    fake.fail_next(1, Outage::RateLimited(7));
    let e = c.sink.deliver(&alloc(inv, "10")).await.expect_err("429");
    assert!(
        matches!(e, SinkError::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(7)),
        "{e:?}"
    );
    fake.fail_next(1, Outage::Unavailable(3));
    let e = c
        .sink
        .deliver(&alloc(inv, "10"))
        .await
        .expect_err("503 retry-after");
    assert!(
        matches!(e, SinkError::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(3)),
        "{e:?}"
    );
    fake.fail_next(1, Outage::Delay(Duration::from_secs(4)));
    let e = c
        .sink
        .deliver(&alloc(inv, "10"))
        .await
        .expect_err("timeout");
    assert!(
        matches!(&e, SinkError::Retryable(m) if m.contains("timed out")),
        "{e:?}"
    );
    // The timed-out call was the memo search; nothing was created. Back up: delivered, and once.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    c.sink.deliver(&alloc(inv, "10")).await.expect("delivered");
    c.sink.deliver(&alloc(inv, "10")).await.expect("repeat");
    assert_eq!(fake.payments().len(), 1);
    assert_eq!(fake.residual(inv), Some(rust_decimal::Decimal::from(90)));
    fake.fail_next(1, Outage::Status(500));
    assert!(matches!(
        c.source.pull(&ctx(), None).await,
        Err(ConnectorError::Retryable(_))
    ));
}

#[tokio::test]
async fn timeout_after_create_is_not_duplicated() {
    let (fake, inv) = setup().await;
    let c = build_odoo(&odoo_settings(&fake)).expect("build");
    c.client.uid().await.expect("login");
    // Calls: fields_get(payment), search_read(memo), search_read(move), search(journal), create(wizard),
    // action_create_payments (slow: the answer is lost, but Odoo did it).
    fake.fail_next(5, Outage::Delay(Duration::ZERO));
    fake.fail_next(1, Outage::Delay(Duration::from_secs(3)));
    let e = c
        .sink
        .deliver(&alloc(inv, "25"))
        .await
        .expect_err("answer lost");
    assert!(matches!(e, SinkError::Retryable(_)), "{e:?}");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let r = c
        .sink
        .deliver(&alloc(inv, "25"))
        .await
        .expect("retry finds it");
    assert!(r.remote_id.is_some());
    assert_eq!(fake.payments().len(), 1);
    assert_eq!(fake.residual(inv), Some(rust_decimal::Decimal::from(75)));
}

#[tokio::test]
async fn unknown_model_and_bad_settings() {
    let (fake, _) = setup().await;
    let c = build_odoo(&odoo_settings(&fake)).expect("build");
    let e = c
        .client
        .exec::<serde_json::Value, _, _>("sale.order", "search", &json!([[]]), &json!({}))
        .await
        .expect_err("unknown model");
    assert!(
        matches!(e, cuadra_erp::net::Failure::Permanent(ref m) if m.contains("KeyError")),
        "{e:?}"
    );
    let e = c
        .client
        .exec::<serde_json::Value, _, _>("account.move", "explode", &json!([[]]), &json!({}))
        .await
        .expect_err("unknown method");
    assert!(
        matches!(e, cuadra_erp::net::Failure::Permanent(ref m) if m.contains("does not exist")),
        "{e:?}"
    );
    let mut s = odoo_settings(&fake);
    s.url = "ftp://x".into();
    assert!(matches!(build_odoo(&s), Err(ConnectorError::Config(m)) if m.contains("url")));
    let mut s = odoo_settings(&fake);
    s.api_key = None;
    assert!(matches!(build_odoo(&s), Err(ConnectorError::Config(m)) if m.contains("api_key")));
    let toml_err = toml::from_str::<cuadra_erp::OdooSettings>(
        "url='http://x'\ndatabase='d'\nusername='u'\napi_kye='k'\n",
    )
    .expect_err("unknown key");
    assert!(toml_err.to_string().contains("api_kye"));
    // Connection refused: retryable.
    let mut s = odoo_settings(&fake);
    s.url = "http://127.0.0.1:9".into();
    let c = build_odoo(&s).expect("build");
    assert!(matches!(
        c.source.pull(&ctx(), None).await,
        Err(ConnectorError::Retryable(_))
    ));
}
