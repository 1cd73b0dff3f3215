//! Conekta: RSA `digest` header with this crate's own test key (signature made with openssl), tampering, mapping.

use crate::support::*;
use cuadra_sdk::{CfdiUuid, InvoiceRef, PaymentKind};
use rsa::pkcs8::DecodePrivateKey;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use std::str::FromStr;

fn conekta() -> Box<dyn cuadra_sdk::WebhookHandler> {
    let mut s = settings("conekta");
    s.public_key = Some(String::from_utf8(own_fixture("conekta_test_public.pem")).expect("pem"));
    handler("conekta", &s)
}

/// Signs like Conekta: RSASSA-PKCS1-v1_5 over SHA-256(body), base64.
fn sign(body: &[u8]) -> String {
    use base64::Engine;
    let pem = String::from_utf8(own_fixture("conekta_test_private.pem")).expect("pem");
    let key = RsaPrivateKey::from_pkcs8_pem(&pem).expect("test key");
    let sig = key
        .sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(body))
        .expect("sign");
    base64::engine::general_purpose::STANDARD.encode(sig)
}

#[tokio::test]
async fn openssl_signature_verifies_and_maps_spei_order() {
    let body = own_fixture("conekta_order_paid_spei.json");
    let digest = String::from_utf8(own_fixture("conekta_order_paid_spei.digest")).expect("b64");
    assert_eq!(sign(&body), digest.trim(), "our signer agrees with openssl");
    let h = conekta();
    let out = deliver(
        &*h,
        &ctx(&[]),
        &headers(&[("digest", digest.trim())]),
        &body,
        at(1),
    )
    .await
    .expect("ok");
    let d = out.delivery.expect("delivery");
    assert_eq!(d.external_id, "evt_cuadra_conekta_0001");
    assert_eq!(d.kind, "conekta");
    let p = &payments(&d)[0];
    assert_eq!(p.kind, PaymentKind::Provider);
    assert_eq!(p.external_id, "chg_cuadra0001");
    assert_eq!(
        p.amount.amount(),
        Decimal::from_str("11600.50").expect("dec")
    );
    assert_eq!(p.amount.currency().as_str(), "MXN");
    assert_eq!(p.payer_account.as_deref(), Some("012180001234567899"));
    assert_eq!(p.payer_rfc.as_deref(), Some("CEJ010101AB1"));
    assert_eq!(p.clave_rastreo.as_deref(), Some("MBAN01002601150099999999"));
    assert_eq!(p.own_account.as_deref(), Some("646180111805035472"));
    assert_eq!(p.referencia_numerica.as_deref(), Some("1234567"));
    assert_eq!(p.customer_hint.as_deref(), Some("C-77"));
    assert_eq!(p.booked_on.to_string(), "2026-01-15");
    assert_eq!(
        p.remittance[0].invoice,
        InvoiceRef::Uuid(CfdiUuid::parse("6d7434a6-e3f2-47ad-9e4c-08849946afa0").expect("uuid"))
    );
}

#[tokio::test]
async fn tampered_or_missing_digest_is_refused() {
    let body = own_fixture("conekta_order_paid_spei.json");
    let digest = sign(&body);
    let h = conekta();
    let mut tampered = body.clone();
    tampered[30] ^= 1;
    unauthorized(verify_only(
        &*h,
        &headers(&[("digest", &digest)]),
        &tampered,
        at(1),
    ));
    unauthorized(verify_only(&*h, &headers(&[]), &body, at(1)));
    unauthorized(verify_only(
        &*h,
        &headers(&[("digest", "bm90IGEgc2lnbmF0dXJl")]),
        &body,
        at(1),
    ));
    let mut bad = digest.into_bytes();
    bad[10] = if bad[10] == b'A' { b'B' } else { b'A' };
    unauthorized(verify_only(
        &*h,
        &headers(&[("digest", &String::from_utf8(bad).expect("ascii"))]),
        &body,
        at(1),
    ));
}

#[tokio::test]
async fn charge_paid_shares_the_charge_id_and_ping_is_acknowledged() {
    let h = conekta();
    let body = br#"{"id":"evt_2","object":"event","type":"charge.paid","created_at":1768494300,
      "data":{"object":{"id":"chg_cuadra0001","object":"charge","status":"paid","amount":1160050,"currency":"MXN","paid_at":1768494290,
      "payment_method":{"object":"card_payment","type":"debit","auth_code":"377951","name":"ANA"}}}}"#;
    let d = deliver(
        &*h,
        &ctx(&[]),
        &headers(&[("digest", &sign(body))]),
        body,
        at(1),
    )
    .await
    .expect("ok")
    .delivery
    .expect("d");
    let p = &payments(&d)[0];
    assert_eq!(p.external_id, "chg_cuadra0001");
    assert_eq!(p.operation_number.as_deref(), Some("377951"));
    let ping = br#"{"id":"evt_3","object":"event","type":"webhook_ping","data":{"action":"ping"}}"#;
    let out = deliver(
        &*h,
        &ctx(&[]),
        &headers(&[("digest", &sign(ping))]),
        ping,
        at(1),
    )
    .await
    .expect("ok");
    assert_eq!(out.status, 200);
    assert!(out.delivery.is_none());
}

#[tokio::test]
async fn refunds_are_negative() {
    let h = conekta();
    let body = br#"{"id":"evt_4","object":"event","type":"order.refunded","created_at":1768494300,
      "data":{"object":{"id":"ord_1","currency":"MXN","metadata":{"folio":"77"},"charges":{"data":[{"id":"chg_1","currency":"MXN",
      "refunds":{"data":[{"id":"ref_1","amount":-5000,"created_at":1768494300}]}}]}}}}"#;
    let d = deliver(
        &*h,
        &ctx(&[]),
        &headers(&[("digest", &sign(body))]),
        body,
        at(1),
    )
    .await
    .expect("ok")
    .delivery
    .expect("d");
    let p = &payments(&d)[0];
    assert_eq!(p.external_id, "ref_1");
    assert_eq!(p.amount.amount(), Decimal::from_str("-50.00").expect("dec"));
    assert_eq!(
        p.remittance[0].invoice,
        InvoiceRef::SerieFolio {
            serie: None,
            folio: "77".into()
        }
    );
}

#[test]
fn bad_public_key_is_a_config_error() {
    let mut s = settings("conekta");
    s.public_key = Some("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".into());
    assert!(matches!(
        cuadra_providers::build("conekta", &s),
        Err(cuadra_sdk::ConnectorError::Config(_))
    ));
    let s = settings("conekta");
    assert!(cuadra_providers::build("conekta", &s).is_err());
}
