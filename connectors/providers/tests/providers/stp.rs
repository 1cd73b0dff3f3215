//! STP: abono in every accepted shape, confirmar/devolver against our accounts, cambio de estado, and the
//! authentication options (IP allow-list, shared-secret header, HTTP Basic).

use crate::support::*;
use base64::Engine;
use cuadra_providers::build;
use cuadra_providers::stp::{parse_estado, OrderState};
use cuadra_sdk::{ConnectorError, PaymentKind};
use rust_decimal::Decimal;
use std::str::FromStr;

const OURS: &str = "646180157099999991";

const ABONO: &str = r#"{"id":"4455667","fechaOperacion":20260115,"institucionOrdenante":40072,"institucionBeneficiaria":90646,
 "claveRastreo":"BNET01002601150000012345","monto":"2320.35","nombreOrdenante":"JUAN PEREZ","tipoCuentaOrdenante":40,
 "cuentaOrdenante":"072180001234567891","rfcCurpOrdenante":"PEJJ800101AB1","nombreBeneficiario":"MI EMPRESA",
 "tipoCuentaBeneficiario":40,"cuentaBeneficiario":"646180157099999991","rfcCurpBeneficiario":"ND",
 "conceptoPago":"FACTURA B-77","referenciaNumerica":"7700077","empresa":"MIEMPRESA","tipoPago":1,"tsLiquidacion":1768494093123}"#;

fn open_stp() -> Box<dyn cuadra_sdk::WebhookHandler> {
    let mut s = settings("stp");
    s.allow_unauthenticated = true;
    handler("stp", &s)
}

#[tokio::test]
async fn abono_to_our_account_is_confirmed_and_mapped() {
    let h = open_stp();
    let out = deliver(&*h, &ctx(&[OURS]), &headers(&[]), ABONO.as_bytes(), at(1))
        .await
        .expect("ok");
    assert_eq!(out.status, 200);
    assert_eq!(out.body, br#"{"mensaje":"confirmar"}"#);
    let d = out.delivery.expect("delivery");
    assert_eq!(
        (d.kind.as_str(), d.external_id.as_str()),
        ("stp", "abono:4455667")
    );
    let p = &payments(&d)[0];
    assert_eq!(p.kind, PaymentKind::Spei);
    assert_eq!(p.external_id, "BNET01002601150000012345/20260115");
    assert_eq!(
        p.amount.amount(),
        Decimal::from_str("2320.35").expect("dec")
    );
    assert_eq!(p.amount.currency().as_str(), "MXN");
    assert_eq!(p.booked_on.to_string(), "2026-01-15");
    assert_eq!(
        p.value_date.map(|d| d.to_string()).as_deref(),
        Some("2026-01-15")
    );
    assert_eq!(p.own_account.as_deref(), Some(OURS));
    assert_eq!(p.payer_account.as_deref(), Some("072180001234567891"));
    assert_eq!(p.payer_name.as_deref(), Some("JUAN PEREZ"));
    assert_eq!(p.payer_rfc.as_deref(), Some("PEJJ800101AB1"));
    assert_eq!(p.referencia_numerica.as_deref(), Some("7700077"));
    assert_eq!(p.concepto.as_deref(), Some("FACTURA B-77"));
    assert_eq!(p.clave_rastreo.as_deref(), Some("BNET01002601150000012345"));
    assert_eq!(p.document_id.as_deref(), Some("4455667"));
}

#[tokio::test]
async fn abono_to_another_account_is_returned_and_not_stored() {
    let h = open_stp();
    let out = deliver(
        &*h,
        &ctx(&["646180157000000004"]),
        &headers(&[]),
        ABONO.as_bytes(),
        at(1),
    )
    .await
    .expect("ok");
    assert_eq!(out.status, 400);
    assert_eq!(out.body, br#"{"mensaje":"devolver","id":1}"#);
    assert!(out.delivery.is_none());
    // An empty set of own accounts accepts everything.
    let out = deliver(&*h, &ctx(&[]), &headers(&[]), ABONO.as_bytes(), at(1))
        .await
        .expect("ok");
    assert_eq!(out.status, 200);
    // The configured causa is used.
    let mut s = settings("stp");
    s.allow_unauthenticated = true;
    s.devolver_code = Some(5);
    let h = handler("stp", &s);
    let out = deliver(&*h, &ctx(&["1"]), &headers(&[]), ABONO.as_bytes(), at(1))
        .await
        .expect("ok");
    assert_eq!(out.body, br#"{"mensaje":"devolver","id":5}"#);
}

#[tokio::test]
async fn other_shapes_of_the_same_abono() {
    let h = open_stp();
    let wrapped = format!(r#"{{"abono": {ABONO}}}"#);
    let numeric = ABONO.replace(r#""monto":"2320.35""#, r#""monto":2320.35"#);
    let pascal = r#"{"Clave":4455667,"FechaOperacion":20260115,"ClaveRastreo":"BNET01002601150000012345","Monto":2320.35,
      "NombreOrdenante":"JUAN PEREZ","CuentaOrdenante":"072180001234567891","RFCCurpOrdenante":"ND",
      "CuentaBeneficiario":"646180157099999991","ConceptoPago":"FACTURA B-77","ReferenciaNumerica":7700077}"#;
    let xml = r#"<abono><clave>4455667</clave><fechaOperacion>20260115</fechaOperacion><claveRastreo>BNET01002601150000012345</claveRastreo>
      <monto>2320.35</monto><nombreOrdenante>JUAN &amp; PEREZ</nombreOrdenante><cuentaBeneficiario>646180157099999991</cuentaBeneficiario></abono>"#;
    for body in [wrapped.as_str(), numeric.as_str(), pascal, xml] {
        let d = deliver(&*h, &ctx(&[OURS]), &headers(&[]), body.as_bytes(), at(1))
            .await
            .expect(body)
            .delivery
            .expect("d");
        let p = &payments(&d)[0];
        assert_eq!(p.external_id, "BNET01002601150000012345/20260115", "{body}");
        assert_eq!(
            p.amount.amount(),
            Decimal::from_str("2320.35").expect("dec")
        );
        assert_eq!(d.external_id, "abono:4455667");
    }
    let d = deliver(&*h, &ctx(&[]), &headers(&[]), pascal.as_bytes(), at(1))
        .await
        .expect("ok")
        .delivery
        .expect("d");
    assert_eq!(payments(&d)[0].payer_rfc, None, "ND is no RFC");
    let d = deliver(&*h, &ctx(&[]), &headers(&[]), xml.as_bytes(), at(1))
        .await
        .expect("ok")
        .delivery
        .expect("d");
    assert_eq!(payments(&d)[0].payer_name.as_deref(), Some("JUAN & PEREZ"));
}

#[tokio::test]
async fn bad_abonos_are_malformed() {
    let h = open_stp();
    for body in [
        ABONO.replace(r#""monto":"2320.35""#, r#""monto":2.32035e3"#),
        ABONO.replace(r#""monto":"2320.35""#, r#""monto":"-5""#),
        ABONO.replace(
            r#""fechaOperacion":20260115"#,
            r#""fechaOperacion":"mañana""#,
        ),
        r#"{"hola":1}"#.to_string(),
        "<devolucion><clave>1</clave></devolucion>".to_string(),
        "<abono><monto>1".to_string(),
    ] {
        let r = deliver(&*h, &ctx(&[]), &headers(&[]), body.as_bytes(), at(1)).await;
        assert!(
            matches!(r, Err(cuadra_sdk::WebhookError::Malformed(_))),
            "{body}: {r:?}"
        );
    }
}

#[tokio::test]
async fn cambio_de_estado_is_recorded_without_payments() {
    let h = open_stp();
    let ok = br#"{"id":"1128175285","empresa":"MIEMPRESA","folioOrigen":"REF-1","estado":"Success","causaDevolucion":"","tsLiquidacion":"1768494100456"}"#;
    let back = r#"{"id":1128175285,"empresa":"MIEMPRESA","folioOrigen":"REF-1","estado":"Devolución","causaDevolucion":{"code":16,"msg":"Tipo de operación errónea"}}"#.as_bytes();
    let out = deliver(&*h, &ctx(&[OURS]), &headers(&[]), ok, at(1))
        .await
        .expect("ok");
    assert_eq!(out.status, 200);
    let d = out.delivery.expect("d");
    assert_eq!(
        (d.kind.as_str(), d.external_id.as_str()),
        ("stp-estado", "estado:1128175285:settled")
    );
    assert!(d.records.is_empty());
    let d2 = deliver(&*h, &ctx(&[]), &headers(&[]), back, at(1))
        .await
        .expect("ok")
        .delivery
        .expect("d");
    assert_eq!(d2.external_id, "estado:1128175285:returned");
    let st = parse_estado(back).expect("parsed");
    assert_eq!(st.state, OrderState::Returned);
    assert_eq!(st.folio_origen.as_deref(), Some("REF-1"));
    assert!(st
        .causa_devolucion
        .as_deref()
        .is_some_and(|c| c.contains("16")));
    assert_eq!(
        parse_estado(ok).expect("p").ts_liquidacion,
        Some(1_768_494_100_456)
    );
    assert_eq!(OrderState::from_stp("CANCELACION"), OrderState::Failed);
    assert_eq!(OrderState::from_stp("Éxito"), OrderState::Settled);
    assert_eq!(OrderState::from_stp("XD"), OrderState::Unknown);
}

#[test]
fn authentication_must_be_configured() {
    let s = settings("stp");
    assert!(matches!(build("stp", &s), Err(ConnectorError::Config(_))));
    let mut s = settings("stp");
    s.webhook_secret = secret("stp-shared-secret");
    assert!(
        build("stp", &s).is_err(),
        "secret without saying how it is sent"
    );
    let mut s = settings("stp");
    s.allowed_ips = vec!["not-an-ip".into()];
    assert!(build("stp", &s).is_err());
}

#[test]
fn ip_allow_list_secret_header_and_basic() {
    let mut s = settings("stp");
    s.allowed_ips = vec!["203.0.113.0/24".into(), "2001:db8::1".into()];
    let h = handler("stp", &s);
    let b = ABONO.as_bytes();
    verify_with(&*h, &headers(&[]), b, at(1), Some("203.0.113.7"), None).expect("in range");
    verify_with(&*h, &headers(&[]), b, at(1), Some("2001:db8::1"), None).expect("v6");
    verify_with(
        &*h,
        &headers(&[]),
        b,
        at(1),
        Some("::ffff:203.0.113.9"),
        None,
    )
    .expect("mapped v4");
    unauthorized(verify_with(
        &*h,
        &headers(&[]),
        b,
        at(1),
        Some("198.51.100.1"),
        None,
    ));
    unauthorized(verify_only(&*h, &headers(&[]), b, at(1)));

    s.client_ip_header = Some("X-Forwarded-For".into());
    let h = handler("stp", &s);
    verify_only(
        &*h,
        &headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.8")]),
        b,
        at(1),
    )
    .expect("last hop");
    unauthorized(verify_only(
        &*h,
        &headers(&[("x-forwarded-for", "203.0.113.8, 1.1.1.1")]),
        b,
        at(1),
    ));

    let mut s = settings("stp");
    s.webhook_secret = secret("s3cr3t-stp-shared");
    s.secret_header = Some("X-STP-Secret".into());
    let h = handler("stp", &s);
    verify_only(
        &*h,
        &headers(&[("x-stp-secret", "s3cr3t-stp-shared")]),
        b,
        at(1),
    )
    .expect("header");
    unauthorized(verify_only(
        &*h,
        &headers(&[("x-stp-secret", "s3cr3t-stp-share")]),
        b,
        at(1),
    ));
    unauthorized(verify_only(&*h, &headers(&[]), b, at(1)));

    let mut s = settings("stp");
    s.webhook_secret = secret("s3cr3t-stp-shared");
    s.webhook_user = Some("stp".into());
    let h = handler("stp", &s);
    let good = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("stp:s3cr3t-stp-shared")
    );
    verify_only(&*h, &headers(&[("authorization", &good)]), b, at(1)).expect("basic");
    unauthorized(verify_only(
        &*h,
        &headers(&[("authorization", "Basic c3RwOng=")]),
        b,
        at(1),
    ));
}
