//! Conformance over the shared corpus `shared/fixtures/bank/webhooks` (read in place, never copied). Each test
//! skips, with a note, when the corpus is absent. Expected values were read by hand from the fixture files.

use crate::support::*;
use cuadra_providers::stp::{parse_estado, OrderState};
use cuadra_providers::{conekta, mercadopago, stripe};
use cuadra_sdk::{InvoiceRef, PaymentKind, WebhookError};
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde_json::Value;
use std::path::Path;
use std::str::FromStr;

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("reading {name}: {e}"))
}

fn vectors(dir: &Path) -> Value {
    serde_json::from_slice(&read(dir, "signature_test_vectors.json")).expect("vectors JSON")
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("vector field {k}"))
        .to_string()
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

#[test]
fn stripe_vectors() {
    let Some(dir) = shared_webhooks() else { return };
    let body = read(&dir, "stripe/payment_intent.succeeded.json");
    let v = vectors(&dir);
    for case in v["stripe"].as_array().expect("stripe vectors") {
        let secret = s(case, "secret");
        let t = case["t"].as_i64().expect("t");
        let payload = match case.get("payload_inline").and_then(Value::as_str) {
            Some(p) => p.as_bytes().to_vec(),
            None => body.clone(),
        };
        let header = case
            .get("header")
            .or_else(|| case.get("header_with_extra_schemes"))
            .and_then(Value::as_str)
            .expect("header");
        stripe::verify_signature(&secret, header, &payload, at(t), 300).expect("vector verifies");
        unauthorized(stripe::verify_signature(
            &secret,
            header,
            &payload,
            at(t + 301),
            300,
        ));
        let mut tampered = payload.clone();
        tampered.push(b' ');
        unauthorized(stripe::verify_signature(
            &secret,
            header,
            &tampered,
            at(t),
            300,
        ));
        let moved = header.replacen(&format!("t={t}"), &format!("t={}", t - 1), 1);
        unauthorized(stripe::verify_signature(
            &secret,
            &moved,
            &payload,
            at(t),
            300,
        ));
        let v1 = s(case, "expected_v1");
        let flipped = header.replace(
            &v1,
            &format!(
                "{}{}",
                if v1.starts_with('0') { "1" } else { "0" },
                &v1[1..]
            ),
        );
        unauthorized(stripe::verify_signature(
            &secret,
            &flipped,
            &payload,
            at(t),
            300,
        ));
    }
}

#[tokio::test]
async fn stripe_payloads_map() {
    let Some(dir) = shared_webhooks() else { return };
    let tz = chrono_tz::America::Mexico_City;
    let map = |name: &str| {
        let v: Value = serde_json::from_slice(&read(&dir, name)).expect("json");
        stripe::map_event(&v, tz).expect("maps")
    };
    let pi = map("stripe/payment_intent.succeeded.json");
    assert_eq!(pi.len(), 1);
    assert_eq!(pi[0].external_id, "pi_000000000000000000000000");
    assert_eq!(pi[0].amount.amount(), dec("20.00"));
    assert_eq!(pi[0].amount.currency().as_str(), "USD");
    assert_eq!(pi[0].kind, PaymentKind::Provider);
    let ch = map("stripe/charge.succeeded.json");
    assert_eq!(
        ch[0].external_id, pi[0].external_id,
        "charge and PaymentIntent are one payment"
    );
    assert_eq!(
        ch[0].document_id.as_deref(),
        Some("ch_000000000000000000000000")
    );
    let re = map("stripe/charge.refunded.json");
    assert_eq!(re.len(), 1);
    assert_eq!(re[0].external_id, "re_000000000000000000000000");
    assert_eq!(re[0].amount.amount(), dec("-1.00"));
    let cs = map("stripe/checkout.session.completed.payment_mode.json");
    assert_eq!(cs[0].external_id, "pi_00000000000000");
    assert_eq!(cs[0].amount.amount(), dec("250.00"));
    for quiet in [
        "stripe/charge.failed.json",
        "stripe/payment_intent.payment_failed.json",
        "stripe/payment_intent.processing.json",
        "stripe/payout.paid.json",
        "stripe/balance.available.json",
        "stripe/charge.dispute.created.json",
    ] {
        assert!(map(quiet).is_empty(), "{quiet} moves no receivable money");
    }
    // Every Stripe file at least goes through the handler without a panic.
    for entry in std::fs::read_dir(dir.join("stripe")).expect("dir") {
        let body = std::fs::read(entry.expect("entry").path()).expect("read");
        if let Ok(v) = serde_json::from_slice::<Value>(&body) {
            let _ = stripe::map_event(&v, tz);
        }
    }
    // The signed vector through the whole handler.
    let body = read(&dir, "stripe/payment_intent.succeeded.json");
    let v = vectors(&dir);
    let case = &v["stripe"][0];
    let mut st = settings("stripe");
    st.webhook_secret = Some(SecretString::from(s(case, "secret")));
    let h = handler("stripe", &st);
    let out = deliver(
        &*h,
        &ctx(&[]),
        &headers(&[("stripe-signature", &s(case, "header"))]),
        &body,
        at(1_700_000_000),
    )
    .await
    .expect("ok");
    let d = out.delivery.expect("delivery");
    assert_eq!(d.external_id, "evt_000000000000000000000000");
    assert_eq!(d.raw, body);
}

#[tokio::test]
async fn conekta_vector_and_payloads() {
    let Some(dir) = shared_webhooks() else { return };
    let v = vectors(&dir);
    let case = &v["conekta"][0];
    let body = read(&dir, "conekta/event_order.paid.json");
    let mut st = settings("conekta");
    st.public_key = Some(s(case, "public_key_pem"));
    let h = handler("conekta", &st);
    let digest = s(case, "digest_header_base64");
    let out = deliver(
        &*h,
        &ctx(&[]),
        &headers(&[("digest", &digest)]),
        &body,
        at(1),
    )
    .await
    .expect("vector verifies");
    let d = out.delivery.expect("delivery");
    assert_eq!(d.external_id, "637e79cb70d06300013ea169");
    let p = &payments(&d)[0];
    assert_eq!(p.external_id, "637e79c970d06300013ea159");
    assert_eq!(p.amount.amount(), dec("200.00"));
    assert_eq!(p.amount.currency().as_str(), "MXN");
    assert_eq!(p.operation_number.as_deref(), Some("377951"));
    let mut tampered = body.clone();
    tampered.insert(1, b' ');
    unauthorized(verify_only(
        &*h,
        &headers(&[("digest", &digest)]),
        &tampered,
        at(1),
    ));
    let tz = chrono_tz::America::Mexico_City;
    let charge: Value =
        serde_json::from_slice(&read(&dir, "conekta/event_charge.paid.json")).expect("json");
    let cp = conekta::map_event(&charge, tz).expect("maps");
    assert_eq!(
        cp[0].external_id, p.external_id,
        "charge.paid and order.paid are one payment"
    );
    let ping: Value =
        serde_json::from_slice(&read(&dir, "conekta/event_webhook_ping.json")).expect("json");
    assert!(conekta::map_event(&ping, tz).expect("maps").is_empty());
}

#[tokio::test]
async fn mercadopago_vectors_and_confirming_fetch() {
    let Some(dir) = shared_webhooks() else { return };
    let v = vectors(&dir);
    for case in v["mercadopago"].as_array().expect("vectors") {
        let secret = s(case, "secret");
        let ts = s(case, "ts");
        let now = ts.parse::<i64>().expect("ts");
        let now = if ts.len() >= 13 { now / 1000 } else { now };
        let id = case["data_id_query_param"].as_str();
        let rid = s(case, "x_request_id");
        let x = s(case, "x_signature");
        assert_eq!(
            mercadopago::manifest(id, Some(&rid), &ts),
            s(case, "manifest")
        );
        mercadopago::verify_signature(&secret, &x, id, Some(&rid), at(now), 300)
            .expect("vector verifies");
        unauthorized(mercadopago::verify_signature(
            &secret,
            &x,
            id,
            Some(&rid),
            at(now + 301),
            300,
        ));
        unauthorized(mercadopago::verify_signature(
            &secret,
            &x,
            Some("tampered"),
            Some(&rid),
            at(now),
            300,
        ));
        // Through the handler, with the query string as the daemon passes it.
        let mut st = settings("mercadopago");
        st.webhook_secret = Some(SecretString::from(secret.clone()));
        st.api_key = Some(SecretString::from("tok"));
        st.api_base = Some("http://127.0.0.1:9".into());
        let h = handler("mercadopago", &st);
        let query = id
            .map(|i| format!("data.id={i}&type=payment"))
            .unwrap_or_default();
        let hdr = headers(&[("x-signature", &x), ("x-request-id", &rid)]);
        verify_with(&*h, &hdr, b"{}", at(now), None, Some(&query))
            .expect("handler verifies the vector");
    }
    // The synthetic notification, confirmed against the SDK's approved payment served by a fake API.
    let note = read(
        &dir,
        "mercadopago/synthetic_notification_payment.updated.json",
    );
    let api = fake_api(vec![(
        "/v1/payments/17014025134".into(),
        Canned {
            status: 200,
            body: read(&dir, "mercadopago/payment_get_approved.json"),
        },
    )])
    .await;
    let mut st = settings("mercadopago");
    st.webhook_secret = Some(SecretString::from("your_secret_key_here"));
    st.api_key = Some(SecretString::from("tok"));
    st.api_base = Some(api.base.clone());
    let h = handler("mercadopago", &st);
    let case = &v["mercadopago"][1];
    let hdr = headers(&[
        ("x-signature", &s(case, "x_signature")),
        ("x-request-id", &s(case, "x_request_id")),
    ]);
    let out = deliver(&*h, &ctx(&[]), &hdr, &note, at(1_768_494_601))
        .await
        .expect("handled");
    let d = out.delivery.expect("delivery");
    assert_eq!(d.external_id, "112233445566");
    let p = &payments(&d)[0];
    assert_eq!(p.external_id, "17014025134");
    assert_eq!(p.amount.amount(), dec("58.80"));
    assert_eq!(p.amount.currency().as_str(), "BRL");
    assert_eq!(p.booked_on.to_string(), "2024-01-15");
    assert_eq!(
        p.value_date.map(|d| d.to_string()).as_deref(),
        Some("2024-01-29")
    );
    assert_eq!(p.remittance[0].invoice, InvoiceRef::ErpId("MP0001".into()));
}

#[tokio::test]
async fn openpay_payloads() {
    let Some(dir) = shared_webhooks() else { return };
    let note = read(
        &dir,
        "openpay/synthetic_charge.succeeded_bank_transfer.json",
    );
    // Serve the transaction object's exact text as the API's charge.
    let members: std::collections::BTreeMap<String, Box<serde_json::value::RawValue>> =
        serde_json::from_slice(&note).expect("json");
    let charge = members["transaction"].get().as_bytes().to_vec();
    let api = fake_api(vec![(
        "/v1/m1/charges/trzjaozcik8msyqshka4".into(),
        Canned {
            status: 200,
            body: charge,
        },
    )])
    .await;
    let mut st = settings("openpay");
    st.webhook_user = Some("u".into());
    st.webhook_secret = Some(SecretString::from("openpay-basic-pass"));
    st.merchant_id = Some("m1".into());
    st.api_key = Some(SecretString::from("sk"));
    st.api_base = Some(api.base.clone());
    let h = handler("openpay", &st);
    let auth = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "u:openpay-basic-pass"
        )
    );
    let hdr = headers(&[("authorization", &auth)]);
    let d = deliver(&*h, &ctx(&[]), &hdr, &note, at(1))
        .await
        .expect("ok")
        .delivery
        .expect("delivery");
    assert_eq!(d.external_id, "charge.succeeded:trzjaozcik8msyqshka4");
    let p = &payments(&d)[0];
    assert_eq!(p.amount.amount(), dec("100"));
    assert_eq!(p.operation_number.as_deref(), Some("801585"));
    assert_eq!(p.own_account.as_deref(), Some("012180001234567899"));
    assert_eq!(p.booked_on.to_string(), "2026-01-15");
    assert_eq!(
        p.remittance[0].invoice,
        InvoiceRef::ErpId("oid-00051".into())
    );
    let ver = read(&dir, "openpay/synthetic_verification.json");
    let d = deliver(&*h, &ctx(&[]), &hdr, &ver, at(1))
        .await
        .expect("ok")
        .delivery
        .expect("stored");
    assert_eq!(d.external_id, "verification:AbCd1234");
}

#[tokio::test]
async fn stp_payloads() {
    let Some(dir) = shared_webhooks() else { return };
    let mut st = settings("stp");
    st.allow_unauthenticated = true;
    let h = handler("stp", &st);
    let full = read(&dir, "stp/synthetic_abono_full.json");
    let out = deliver(
        &*h,
        &ctx(&["646180157000123457"]),
        &headers(&[]),
        &full,
        at(1),
    )
    .await
    .expect("ok");
    assert_eq!(out.status, 200);
    let expected: Value =
        serde_json::from_slice(&read(&dir, "stp/synthetic_abono_response_confirmar.json"))
            .expect("json");
    assert_eq!(
        serde_json::from_slice::<Value>(&out.body).expect("json"),
        expected
    );
    let d = out.delivery.expect("delivery");
    assert_eq!(d.external_id, "abono:9876543");
    let p = &payments(&d)[0];
    assert_eq!(p.kind, PaymentKind::Spei);
    assert_eq!(p.external_id, "MBAN01002601150012345678/20260115");
    assert_eq!(p.amount.amount(), dec("11600.0"));
    assert_eq!(p.payer_account.as_deref(), Some("012180001234567899"));
    assert_eq!(p.payer_rfc.as_deref(), Some("CEJ010101AB1"));
    assert_eq!(
        p.payer_name.as_deref(),
        Some("COMERCIALIZADORA EJEMPLO SA DE CV")
    );
    assert_eq!(p.own_account.as_deref(), Some("646180157000123457"));
    assert_eq!(p.referencia_numerica.as_deref(), Some("1234"));
    assert_eq!(p.concepto.as_deref(), Some("PAGO FACTURA A-1234"));
    let out = deliver(
        &*h,
        &ctx(&["646180157000000004"]),
        &headers(&[]),
        &full,
        at(1),
    )
    .await
    .expect("ok");
    let expected: Value =
        serde_json::from_slice(&read(&dir, "stp/synthetic_abono_response_devolver.json"))
            .expect("json");
    assert_eq!(
        (
            out.status,
            serde_json::from_slice::<Value>(&out.body).expect("json")
        ),
        (400, expected)
    );
    for (name, clave, fecha, amount) in [
        (
            "stp/abono_camelcase_speidproxy.json",
            "PRUEBATAMIZI1",
            "20180618",
            "100.0",
        ),
        (
            "stp/abono_camelcase_blocked_account.json",
            "PRUEBABloqueo",
            "20180618",
            "100.0",
        ),
        (
            "stp/abono_pascalcase_legacy_speid.json",
            "PRUEBATAMIZI1",
            "20210618",
            "100.0",
        ),
        ("stp/legacy_xml_send_abono.xml", "GEM801", "20100323", "200"),
    ] {
        let d = deliver(&*h, &ctx(&[]), &headers(&[]), &read(&dir, name), at(1))
            .await
            .expect(name)
            .delivery
            .expect("d");
        let p = &payments(&d)[0];
        assert_eq!(p.external_id, format!("{clave}/{fecha}"), "{name}");
        assert_eq!(p.amount.amount(), dec(amount), "{name}");
    }
    for (name, state, causa) in [
        (
            "stp/synthetic_cambio_estado_success.json",
            OrderState::Settled,
            None,
        ),
        (
            "stp/synthetic_cambio_estado_devolucion.json",
            OrderState::Returned,
            Some("1"),
        ),
        (
            "stp/synthetic_cambio_estado_liquidacion_alt.json",
            OrderState::Settled,
            None,
        ),
        (
            "stp/orden_event_liquidacion_legacy_speid.json",
            OrderState::Settled,
            Some("0"),
        ),
        (
            "stp/orden_event_cancelacion_legacy_speid.json",
            OrderState::Failed,
            Some("something went wrong"),
        ),
        ("stp/legacy_xml_estado.xml", OrderState::Settled, None),
        (
            "stp/legacy_xml_estado_error.xml",
            OrderState::Returned,
            Some("18"),
        ),
    ] {
        let body = read(&dir, name);
        let st = parse_estado(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            (st.state, st.causa_devolucion.as_deref()),
            (state, causa),
            "{name}"
        );
        let d = deliver(&*h, &ctx(&[]), &headers(&[]), &body, at(1))
            .await
            .expect(name)
            .delivery
            .expect("d");
        assert!(d.records.is_empty() && d.kind == "stp-estado", "{name}");
    }
    let r = deliver(
        &*h,
        &ctx(&[]),
        &headers(&[]),
        &read(&dir, "stp/legacy_xml_send_abono_error.xml"),
        at(1),
    )
    .await;
    assert!(
        matches!(r, Err(WebhookError::Malformed(_))),
        "a <devolucion> is not a webhook we receive"
    );
}
