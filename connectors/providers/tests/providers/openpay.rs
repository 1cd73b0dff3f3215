//! Openpay: HTTP Basic authentication, the verification ping, and the confirming fetch against a fake Openpay API
//! served over real HTTP on 127.0.0.1.

use crate::support::*;
use base64::Engine;
use cuadra_sdk::{InvoiceRef, WebhookError};
use rust_decimal::Decimal;
use secrecy::SecretString;
use std::str::FromStr;

const CHARGE_OK: &str = r#"{"id":"trcuadra0001","authorization":"801585","operation_type":"in","transaction_type":"charge",
 "status":"completed","creation_date":"2026-01-14T17:50:09-06:00","operation_date":"2026-01-15T10:21:33-06:00",
 "description":"Pago factura","order_id":"6d7434a6-e3f2-47ad-9e4c-08849946afa0","customer_id":"cus1",
 "payment_method":{"type":"bank_transfer","bank":"BBVA Bancomer","agreement":"1411217","clabe":"012180001234567899","name":"11094690394055678934"},
 "amount":1160.10,"currency":"MXN","method":"bank_account","metadata":{"customer_rfc":"EKU9003173C9"}}"#;

fn basic(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

fn openpay(base: &str) -> Box<dyn cuadra_sdk::WebhookHandler> {
    let mut s = settings("openpay");
    s.webhook_user = Some("openpay".into());
    s.webhook_secret = secret("openpay-hook-pass");
    s.merchant_id = Some("mzdtln0bmtms6o3kck8f".into());
    s.api_key = Some(SecretString::from("sk_test_private"));
    s.api_base = Some(base.to_string());
    s.timeout_secs = Some(5);
    handler("openpay", &s)
}

fn notification(kind: &str, id: &str) -> Vec<u8> {
    format!(r#"{{"type":"{kind}","event_date":"2026-01-15T10:21:33-06:00","transaction":{{"id":"{id}","status":"completed","amount":1.0}}}}"#)
        .into_bytes()
}

#[tokio::test]
async fn basic_credentials_are_required() {
    let h = openpay("http://127.0.0.1:9");
    let body = notification("charge.succeeded", "x");
    unauthorized(verify_only(&*h, &headers(&[]), &body, at(1)));
    unauthorized(verify_only(
        &*h,
        &headers(&[("authorization", &basic("openpay", "wrong"))]),
        &body,
        at(1),
    ));
    unauthorized(verify_only(
        &*h,
        &headers(&[("authorization", &basic("other", "openpay-hook-pass"))]),
        &body,
        at(1),
    ));
    unauthorized(verify_only(
        &*h,
        &headers(&[("authorization", "Bearer hook-pass")]),
        &body,
        at(1),
    ));
    unauthorized(verify_only(
        &*h,
        &headers(&[("authorization", "Basic !!!")]),
        &body,
        at(1),
    ));
    verify_only(
        &*h,
        &headers(&[("authorization", &basic("openpay", "openpay-hook-pass"))]),
        &body,
        at(1),
    )
    .expect("ok");
}

#[tokio::test]
async fn confirmed_completed_charge_becomes_a_payment() {
    let api = fake_api(vec![(
        "/v1/mzdtln0bmtms6o3kck8f/charges/trcuadra0001".into(),
        Canned {
            status: 200,
            body: CHARGE_OK.as_bytes().to_vec(),
        },
    )])
    .await;
    let h = openpay(&api.base);
    let body = notification("charge.succeeded", "trcuadra0001");
    let hdr = headers(&[("authorization", &basic("openpay", "openpay-hook-pass"))]);
    let out = deliver(&*h, &ctx(&[]), &hdr, &body, at(1))
        .await
        .expect("handled");
    assert_eq!(out.status, 200);
    let d = out.delivery.expect("delivery");
    assert_eq!(d.external_id, "charge.succeeded:trcuadra0001");
    assert_eq!(d.raw, body);
    let p = &payments(&d)[0];
    assert_eq!(p.external_id, "trcuadra0001");
    assert_eq!(
        p.amount.amount(),
        Decimal::from_str("1160.10").expect("dec"),
        "amount exact from the fetched charge"
    );
    assert_eq!(p.operation_number.as_deref(), Some("801585"));
    assert_eq!(p.own_account.as_deref(), Some("012180001234567899"));
    assert_eq!(p.booked_on.to_string(), "2026-01-15");
    assert_eq!(p.customer_hint.as_deref(), Some("EKU9003173C9"));
    assert!(matches!(p.remittance[0].invoice, InvoiceRef::Uuid(_)));
    let seen = api.seen_auth.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].1,
        basic("sk_test_private", ""),
        "private key as Basic user"
    );
}

#[tokio::test]
async fn not_completed_not_found_and_down_are_classified() {
    let pending = CHARGE_OK.replace(r#""status":"completed""#, r#""status":"in_progress""#);
    let failed = CHARGE_OK.replace(r#""status":"completed""#, r#""status":"failed""#);
    let api = fake_api(vec![
        (
            "/v1/mzdtln0bmtms6o3kck8f/charges/pending".into(),
            Canned {
                status: 200,
                body: pending.into_bytes(),
            },
        ),
        (
            "/v1/mzdtln0bmtms6o3kck8f/charges/failed".into(),
            Canned {
                status: 200,
                body: failed.into_bytes(),
            },
        ),
        (
            "/v1/mzdtln0bmtms6o3kck8f/charges/gone".into(),
            Canned {
                status: 404,
                body: b"{}".to_vec(),
            },
        ),
        (
            "/v1/mzdtln0bmtms6o3kck8f/charges/boom".into(),
            Canned {
                status: 500,
                body: b"{}".to_vec(),
            },
        ),
        (
            "/v1/mzdtln0bmtms6o3kck8f/charges/denied".into(),
            Canned {
                status: 401,
                body: b"{}".to_vec(),
            },
        ),
    ])
    .await;
    let h = openpay(&api.base);
    let hdr = headers(&[("authorization", &basic("openpay", "openpay-hook-pass"))]);
    let run = |id: &'static str| {
        let body = notification("charge.succeeded", id);
        let h = &h;
        let hdr = &hdr;
        async move { deliver(&**h, &ctx(&[]), hdr, &body, at(1)).await }
    };
    assert!(matches!(
        run("pending").await,
        Err(WebhookError::Retryable(_))
    ));
    let out = run("failed").await.expect("acknowledged");
    assert!(out.delivery.is_none());
    assert!(matches!(run("gone").await, Err(WebhookError::Malformed(_))));
    assert!(matches!(run("boom").await, Err(WebhookError::Retryable(_))));
    let denied = run("denied").await;
    match denied {
        Err(WebhookError::Retryable(m)) => {
            assert!(!m.contains("sk_test_private"), "no secret in errors: {m}")
        }
        other => panic!("expected Retryable, got {other:?}"),
    }
    // Nothing listening: temporary.
    let down = openpay("http://127.0.0.1:9");
    let body = notification("charge.succeeded", "x");
    assert!(matches!(
        deliver(&*down, &ctx(&[]), &hdr, &body, at(1)).await,
        Err(WebhookError::Retryable(_))
    ));
}

#[tokio::test]
async fn refund_and_other_events() {
    let refunded = r#"{"id":"trref","operation_type":"in","status":"completed","amount":500.00,"currency":"MXN",
      "operation_date":"2026-01-15T10:00:00-06:00",
      "refund":{"id":"trrefund1","amount":200.50,"status":"completed","operation_date":"2026-01-20T09:00:00-06:00","authorization":"999"}}"#;
    let api = fake_api(vec![(
        "/v1/mzdtln0bmtms6o3kck8f/charges/trref".into(),
        Canned {
            status: 200,
            body: refunded.as_bytes().to_vec(),
        },
    )])
    .await;
    let h = openpay(&api.base);
    let hdr = headers(&[("authorization", &basic("openpay", "openpay-hook-pass"))]);
    let body = notification("charge.refunded", "trref");
    let d = deliver(&*h, &ctx(&[]), &hdr, &body, at(1))
        .await
        .expect("ok")
        .delivery
        .expect("d");
    let p = &payments(&d)[0];
    assert_eq!(p.external_id, "trrefund1");
    assert_eq!(
        p.amount.amount(),
        Decimal::from_str("-200.50").expect("dec")
    );
    assert_eq!(p.booked_on.to_string(), "2026-01-20");
    let other = notification("payout.created", "whatever");
    let out = deliver(&*h, &ctx(&[]), &hdr, &other, at(1))
        .await
        .expect("ok");
    assert!(out.delivery.is_none());
}

#[tokio::test]
async fn verification_ping_is_stored_for_the_operator() {
    let h = openpay("http://127.0.0.1:9");
    let body = br#"{"type":"verification","event_date":"2026-01-15T10:00:00-06:00","verification_code":"Zx81PqRs"}"#;
    let hdr = headers(&[("authorization", &basic("openpay", "openpay-hook-pass"))]);
    let out = deliver(&*h, &ctx(&[]), &hdr, body, at(1))
        .await
        .expect("ok");
    assert_eq!(out.status, 200);
    let d = out.delivery.expect("stored");
    assert_eq!(d.kind, "openpay-verification");
    assert_eq!(d.external_id, "verification:Zx81PqRs");
    assert!(d.records.is_empty());
}
