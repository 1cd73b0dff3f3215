//! Mercado Pago: `x-signature` manifest (oracle computed independently), tolerance in seconds and milliseconds,
//! tampering, and the confirming `GET /v1/payments/{id}` against a fake API over real HTTP.

use crate::support::*;
use cuadra_providers::mercadopago::{manifest, verify_signature};
use cuadra_sdk::{InvoiceRef, WebhookError};
use rust_decimal::Decimal;
use secrecy::SecretString;
use std::str::FromStr;

const SECRET: &str = "mp_cuadra_secret";
const RID: &str = "bb56a2f1-6aae-46ac-982e-9dcd3581d08e";
/// HMAC-SHA256(SECRET, "id:123456789;request-id:<RID>;ts:1768494600;"), computed outside this crate.
const ORACLE: &str = "d05a32c6368f580b9cf59ef37b68d92f553b92f8a1d9dcf2fb7c7957635e8276";
const TS: i64 = 1_768_494_600;

const NOTE: &str = r#"{"action":"payment.updated","api_version":"v1","data":{"id":"123456789"},"date_created":"2026-01-15T10:30:01Z","id":998877,"live_mode":false,"type":"payment","user_id":"42"}"#;

const PAYMENT: &str = r#"{"id":123456789,"status":"approved","status_detail":"accredited","currency_id":"MXN",
 "transaction_amount":1160.10,"date_approved":"2026-01-15T10:30:01.000-06:00","date_created":"2026-01-15T10:29:00.000-06:00",
 "money_release_date":"2026-01-17T10:30:01.000-06:00","external_reference":"6d7434a6-e3f2-47ad-9e4c-08849946afa0",
 "payment_method_id":"clabe","authorization_code":"A1","metadata":{"customer_rfc":"EKU9003173C9"},
 "payer":{"first_name":"Ana","last_name":"Pérez","identification":{"type":"RFC","number":"PEAA800101AB1"}},
 "refunds":[{"id":555,"amount":100.05,"status":"approved","date_created":"2026-01-16T09:00:00.000-06:00"},
            {"id":556,"amount":1.00,"status":"rejected","date_created":"2026-01-16T09:00:00.000-06:00"}]}"#;

fn mp(base: &str) -> Box<dyn cuadra_sdk::WebhookHandler> {
    let mut s = settings("mercadopago");
    s.webhook_secret = secret(SECRET);
    s.api_key = Some(SecretString::from("APP_USR-token"));
    s.api_base = Some(base.to_string());
    handler("mercadopago", &s)
}

fn sign(data_id: Option<&str>, rid: Option<&str>, ts: i64) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(manifest(data_id, rid, &ts.to_string()).as_bytes());
    format!("ts={ts},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[test]
fn oracle_manifest_and_signature() {
    assert_eq!(
        manifest(Some("123456789"), Some(RID), "1768494600"),
        format!("id:123456789;request-id:{RID};ts:1768494600;")
    );
    assert_eq!(
        manifest(None, Some(RID), "1"),
        format!("request-id:{RID};ts:1;")
    );
    assert_eq!(manifest(Some(" "), None, "1"), "ts:1;");
    let x = format!("ts={TS},v1={ORACLE}");
    assert_eq!(sign(Some("123456789"), Some(RID), TS), x);
    verify_signature(SECRET, &x, Some("123456789"), Some(RID), at(TS), 300).expect("verifies");
    unauthorized(verify_signature(
        SECRET,
        &x,
        Some("123456780"),
        Some(RID),
        at(TS),
        300,
    ));
    unauthorized(verify_signature(
        SECRET,
        &x,
        Some("123456789"),
        Some("other"),
        at(TS),
        300,
    ));
    unauthorized(verify_signature(
        SECRET,
        &format!("ts={},v1={ORACLE}", TS + 1),
        Some("123456789"),
        Some(RID),
        at(TS),
        300,
    ));
    unauthorized(verify_signature(
        SECRET,
        &format!("ts={TS},v1={}", "a".repeat(64)),
        Some("123456789"),
        Some(RID),
        at(TS),
        300,
    ));
    unauthorized(verify_signature(
        SECRET,
        &x,
        Some("123456789"),
        Some(RID),
        at(TS + 301),
        300,
    ));
    unauthorized(verify_signature(
        SECRET,
        &format!("v1={ORACLE}"),
        Some("123456789"),
        Some(RID),
        at(TS),
        300,
    ));
}

#[test]
fn millisecond_timestamps_are_understood() {
    let ts_ms = TS * 1000 + 683;
    let x = sign(Some("9"), Some(RID), ts_ms);
    verify_signature(SECRET, &x, Some("9"), Some(RID), at(TS), 300).expect("ms within tolerance");
    unauthorized(verify_signature(
        SECRET,
        &x,
        Some("9"),
        Some(RID),
        at(TS + 1000),
        300,
    ));
    verify_signature(SECRET, &x, Some("9"), Some(RID), at(TS + 100_000), 0)
        .expect("window turned off");
    unauthorized(verify_signature(
        SECRET,
        &x,
        Some("8"),
        Some(RID),
        at(TS + 100_000),
        0,
    ));
}

#[tokio::test]
async fn query_data_id_wins_over_body() {
    let h = mp("http://127.0.0.1:9");
    let x = sign(Some("ABC123"), Some(RID), TS);
    let hdr = headers(&[("x-signature", &x), ("x-request-id", RID)]);
    verify_with(
        &*h,
        &hdr,
        NOTE.as_bytes(),
        at(TS),
        None,
        Some("type=payment&data.id=ABC123"),
    )
    .expect("query data.id is what is signed");
    unauthorized(verify_only(&*h, &hdr, NOTE.as_bytes(), at(TS)));
}

#[tokio::test]
async fn approved_payment_is_confirmed_and_mapped() {
    let api = fake_api(vec![(
        "/v1/payments/123456789".into(),
        Canned {
            status: 200,
            body: PAYMENT.as_bytes().to_vec(),
        },
    )])
    .await;
    let h = mp(&api.base);
    let hdr = headers(&[
        ("x-signature", &sign(Some("123456789"), Some(RID), TS)),
        ("x-request-id", RID),
    ]);
    let out = deliver(&*h, &ctx(&[]), &hdr, NOTE.as_bytes(), at(TS))
        .await
        .expect("handled");
    let d = out.delivery.expect("delivery");
    assert_eq!(d.external_id, "998877");
    assert_eq!(d.raw, NOTE.as_bytes());
    let ps = payments(&d);
    assert_eq!(ps.len(), 2, "payment and one approved refund");
    assert_eq!(ps[0].external_id, "123456789");
    assert_eq!(
        ps[0].amount.amount(),
        Decimal::from_str("1160.10").expect("dec")
    );
    assert_eq!(ps[0].amount.currency().as_str(), "MXN");
    assert_eq!(ps[0].booked_on.to_string(), "2026-01-15");
    assert_eq!(
        ps[0].value_date.map(|d| d.to_string()).as_deref(),
        Some("2026-01-17")
    );
    assert_eq!(ps[0].payer_rfc.as_deref(), Some("PEAA800101AB1"));
    assert_eq!(ps[0].payer_name.as_deref(), Some("Ana Pérez"));
    assert_eq!(ps[0].customer_hint.as_deref(), Some("EKU9003173C9"));
    assert!(matches!(ps[0].remittance[0].invoice, InvoiceRef::Uuid(_)));
    assert_eq!(ps[1].external_id, "555");
    assert_eq!(
        ps[1].amount.amount(),
        Decimal::from_str("-100.05").expect("dec")
    );
    let seen = api.seen_auth.lock().expect("lock").clone();
    assert_eq!(seen[0].1, "Bearer APP_USR-token");
}

#[tokio::test]
async fn pending_payments_and_other_topics_are_acknowledged() {
    let pending = PAYMENT.replace(r#""status":"approved""#, r#""status":"pending""#);
    let api = fake_api(vec![
        (
            "/v1/payments/123456789".into(),
            Canned {
                status: 200,
                body: pending.into_bytes(),
            },
        ),
        (
            "/v1/payments/500".into(),
            Canned {
                status: 503,
                body: b"{}".to_vec(),
            },
        ),
    ])
    .await;
    let h = mp(&api.base);
    let hdr = headers(&[
        ("x-signature", &sign(Some("123456789"), Some(RID), TS)),
        ("x-request-id", RID),
    ]);
    let out = deliver(&*h, &ctx(&[]), &hdr, NOTE.as_bytes(), at(TS))
        .await
        .expect("ok");
    assert!(out.delivery.is_none());
    let order = r#"{"action":"merchant_order.updated","data":{"id":"77"},"id":1,"type":"topic_merchant_order_wh"}"#;
    let hdr = headers(&[
        ("x-signature", &sign(Some("77"), Some(RID), TS)),
        ("x-request-id", RID),
    ]);
    let out = deliver(&*h, &ctx(&[]), &hdr, order.as_bytes(), at(TS))
        .await
        .expect("ok");
    assert!(out.delivery.is_none());
    let down = NOTE.replace("123456789", "500");
    let hdr = headers(&[
        ("x-signature", &sign(Some("500"), Some(RID), TS)),
        ("x-request-id", RID),
    ]);
    assert!(matches!(
        deliver(&*h, &ctx(&[]), &hdr, down.as_bytes(), at(TS)).await,
        Err(WebhookError::Retryable(_))
    ));
}
