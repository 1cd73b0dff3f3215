//! Stripe: signature (oracle computed independently), tolerance, tampering, and mapping of hand-written events.

use crate::support::*;
use cuadra_providers::stripe::verify_signature;
use cuadra_sdk::{CfdiUuid, InvoiceRef, PaymentKind};
use rust_decimal::Decimal;
use std::str::FromStr;

const SECRET: &str = "whsec_cuadra_test";
/// HMAC-SHA256("whsec_cuadra_test", "1768494000." + body), computed outside this crate.
const ORACLE_V1: &str = "61d9a814a7c8d6c0f86da2603441ba86b1f6ca22077f62056602c293cc5d3c3f";
const T: i64 = 1_768_494_000;

fn stripe() -> Box<dyn cuadra_sdk::WebhookHandler> {
    let mut s = settings("stripe");
    s.webhook_secret = secret(SECRET);
    handler("stripe", &s)
}

fn sign(body: &[u8], t: i64) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[test]
fn oracle_signature_verifies_and_tampering_is_refused() {
    let body = own_fixture("stripe_payment_intent_succeeded.json");
    let header = format!("t={T},v1={ORACLE_V1}");
    verify_signature(SECRET, &header, &body, at(T), 300).expect("oracle signature verifies");
    assert_eq!(sign(&body, T), header, "test signer agrees with the oracle");

    let mut tampered = body.clone();
    tampered[20] ^= 1;
    unauthorized(verify_signature(SECRET, &header, &tampered, at(T), 300));
    unauthorized(verify_signature(
        SECRET,
        &format!("t={},v1={ORACLE_V1}", T + 1),
        &body,
        at(T),
        300,
    ));
    let mut sig = ORACLE_V1.to_string();
    sig.replace_range(0..1, "7");
    unauthorized(verify_signature(
        SECRET,
        &format!("t={T},v1={sig}"),
        &body,
        at(T),
        300,
    ));
    unauthorized(verify_signature("whsec_other", &header, &body, at(T), 300));
    // stale and too far in the future
    unauthorized(verify_signature(SECRET, &header, &body, at(T + 301), 300));
    unauthorized(verify_signature(SECRET, &header, &body, at(T - 301), 300));
    verify_signature(SECRET, &header, &body, at(T + 300), 300).expect("edge of tolerance");
    verify_signature(SECRET, &header, &body, at(T + 3000), 3600).expect("configured tolerance");
}

#[test]
fn several_v1_and_unknown_schemes() {
    let body = own_fixture("stripe_payment_intent_succeeded.json");
    let wrong = "0".repeat(64);
    let h = format!("t={T},v1={wrong},v1={ORACLE_V1},v0={wrong}");
    verify_signature(SECRET, &h, &body, at(T), 300).expect("any v1 may match");
    unauthorized(verify_signature(
        SECRET,
        &format!("t={T},v0={ORACLE_V1}"),
        &body,
        at(T),
        300,
    ));
    unauthorized(verify_signature(
        SECRET,
        &format!("v1={ORACLE_V1}"),
        &body,
        at(T),
        300,
    ));
    unauthorized(verify_signature(SECRET, "garbage", &body, at(T), 300));
    unauthorized(verify_signature(
        SECRET,
        &format!("t=abc,v1={ORACLE_V1}"),
        &body,
        at(T),
        300,
    ));
}

#[tokio::test]
async fn missing_header_is_refused() {
    let h = stripe();
    unauthorized(verify_only(&*h, &headers(&[]), b"{}", at(T)));
}

#[tokio::test]
async fn payment_intent_maps_exactly_with_metadata() {
    let body = own_fixture("stripe_payment_intent_succeeded.json");
    let h = stripe();
    let hdr = headers(&[("Stripe-Signature", &sign(&body, T))]);
    let out = deliver(&*h, &ctx(&[]), &hdr, &body, at(T + 5))
        .await
        .expect("handled");
    assert_eq!(out.status, 200);
    let d = out.delivery.expect("delivery");
    assert_eq!(d.kind, "stripe");
    assert_eq!(d.external_id, "evt_1Cuadra000000000000000001");
    assert_eq!(d.raw, body);
    let p = &payments(&d)[0];
    assert_eq!(p.kind, PaymentKind::Provider);
    assert_eq!(p.external_id, "pi_3Cuadra000000000000000001");
    assert_eq!(
        p.amount.amount(),
        Decimal::from_str("1160.00").expect("dec")
    );
    assert_eq!(p.amount.currency().as_str(), "MXN");
    assert_eq!(
        p.document_id.as_deref(),
        Some("ch_3Cuadra000000000000000001")
    );
    assert_eq!(p.booked_on.to_string(), "2026-01-15");
    assert_eq!(p.customer_hint.as_deref(), Some("EKU9003173C9"));
    let refs: Vec<_> = p.remittance.iter().map(|l| l.invoice.clone()).collect();
    assert_eq!(
        refs,
        vec![
            InvoiceRef::Uuid(
                CfdiUuid::parse("6d7434a6-e3f2-47ad-9e4c-08849946afa0").expect("uuid")
            ),
            InvoiceRef::SerieFolio {
                serie: Some("A".into()),
                folio: "1234".into()
            },
        ]
    );
}

#[tokio::test]
async fn charge_and_payment_intent_share_the_money_id() {
    let h = stripe();
    let pi = own_fixture("stripe_payment_intent_succeeded.json");
    let ch = own_fixture("stripe_charge_succeeded.json");
    let mut ids = Vec::new();
    for body in [pi, ch] {
        let hdr = headers(&[("stripe-signature", &sign(&body, T))]);
        let d = deliver(&*h, &ctx(&[]), &hdr, &body, at(T))
            .await
            .expect("ok")
            .delivery
            .expect("delivery");
        ids.push((d.external_id.clone(), payments(&d)[0].external_id.clone()));
    }
    assert_ne!(ids[0].0, ids[1].0, "distinct event ids");
    assert_eq!(ids[0].1, ids[1].1, "same payment id");
}

#[tokio::test]
async fn refunds_are_negative_with_their_own_id() {
    let h = stripe();
    let body = own_fixture("stripe_charge_refunded.json");
    let hdr = headers(&[("stripe-signature", &sign(&body, 1_768_580_400))]);
    let d = deliver(&*h, &ctx(&[]), &hdr, &body, at(1_768_580_400))
        .await
        .expect("ok")
        .delivery
        .expect("delivery");
    let ps = payments(&d);
    assert_eq!(ps.len(), 1, "the pending refund is not counted");
    assert_eq!(ps[0].external_id, "re_3Cuadra000000000000000001");
    assert_eq!(
        ps[0].amount.amount(),
        Decimal::from_str("-160.00").expect("dec")
    );
    assert_eq!(
        ps[0].document_id.as_deref(),
        Some("ch_3Cuadra000000000000000001")
    );
    assert_eq!(
        ps[0].remittance[0].invoice,
        InvoiceRef::ErpId("INV/2026/0001".into())
    );
}

#[tokio::test]
async fn unknown_and_moneyless_events_are_acknowledged_without_delivery() {
    let h = stripe();
    for body in [
        r#"{"id":"evt_x","object":"event","created":1768494000,"type":"customer.created","data":{"object":{"id":"cus_1"}}}"#,
        r#"{"id":"evt_y","object":"event","created":1768494000,"type":"charge.succeeded","data":{"object":{"id":"ch_1","captured":false,"status":"succeeded","amount":100,"currency":"mxn"}}}"#,
        r#"{"id":"evt_z","object":"v2.core.event","type":"v1.billing.meter.error_report_triggered"}"#,
    ] {
        let hdr = headers(&[("stripe-signature", &sign(body.as_bytes(), T))]);
        let out = deliver(&*h, &ctx(&[]), &hdr, body.as_bytes(), at(T))
            .await
            .expect("ok");
        assert_eq!(out.status, 200);
        assert!(out.delivery.is_none(), "{body}");
    }
}

#[tokio::test]
async fn zero_decimal_currency_and_checkout_session() {
    let h = stripe();
    let body = r#"{"id":"evt_jpy","object":"event","created":1768494000,"type":"checkout.session.completed",
      "data":{"object":{"id":"cs_1","object":"checkout.session","mode":"payment","payment_status":"paid",
      "amount_total":5000,"currency":"jpy","payment_intent":"pi_jpy","client_reference_id":"FAC-9","metadata":{}}}}"#;
    let hdr = headers(&[("stripe-signature", &sign(body.as_bytes(), T))]);
    let d = deliver(&*h, &ctx(&[]), &hdr, body.as_bytes(), at(T))
        .await
        .expect("ok")
        .delivery
        .expect("d");
    let p = &payments(&d)[0];
    assert_eq!(p.amount.amount(), Decimal::from(5000));
    assert_eq!(p.amount.currency().as_str(), "JPY");
    assert_eq!(p.external_id, "pi_jpy");
    assert_eq!(p.remittance[0].invoice, InvoiceRef::ErpId("FAC-9".into()));
}

#[tokio::test]
async fn verified_but_malformed_is_a_400_not_a_panic() {
    let h = stripe();
    for body in [&b"not json"[..], b"[]", br#"{"type":"payment_intent.succeeded"}"#,
        br#"{"id":"e","created":1,"type":"payment_intent.succeeded","data":{"object":{"id":"pi","amount_received":1.5,"currency":"mxn"}}}"#] {
        let hdr = headers(&[("stripe-signature", &sign(body, T))]);
        let r = deliver(&*h, &ctx(&[]), &hdr, body, at(T)).await;
        assert!(matches!(r, Err(cuadra_sdk::WebhookError::Malformed(_))), "{r:?}");
    }
}
