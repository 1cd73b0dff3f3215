//! The generic HTTP connector: signed events verified by the Receiver, error classes, webhook verification,
//! pull paging with cursor then `updated_since`.

use crate::support::{ctx, msg, SECRET};
use cuadra_erp::{build_http, HttpSettings};
use cuadra_sdk::standard_webhooks::SigningKey;
use cuadra_sdk::{
    ConnectorError, Record, Sink, SinkError, Source, WebhookError, WebhookHandler, WebhookRequest,
};
use cuadra_testkit::erp::{ErpFeed, Receiver, ReceiverFailure};
use secrecy::SecretString;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

fn sink_settings(url: String) -> HttpSettings {
    HttpSettings {
        kind: Some("http".into()),
        events_url: Some(url),
        signing_secret: Some(SecretString::from(SECRET)),
        timeout_secs: Some(1),
        ..HttpSettings::default()
    }
}

#[tokio::test]
async fn events_are_signed_and_verify_in_the_receiver() {
    let rx = Receiver::start(SECRET).await.expect("receiver");
    let c = build_http(&sink_settings(rx.url())).expect("build");
    let sink = c.sink.expect("sink");
    let m = msg(
        "alloc-1",
        "allocation.created",
        json!({"id": "A1", "amount": "10.00"}),
    );
    sink.deliver(&m).await.expect("delivered");
    rx.fail_next(1, ReceiverFailure::Status(503));
    assert!(matches!(
        sink.deliver(&m).await,
        Err(SinkError::Retryable(_))
    ));
    sink.deliver(&m).await.expect("retry delivered");
    let got = rx.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].id, "alloc-1");
    assert_eq!(got[1].id, "alloc-1", "same webhook-id on every retry");
    assert_eq!(got[0].body, got[1].body, "same body on every retry");
    assert_eq!(
        got[0].json,
        json!({"id": "alloc-1", "type": "allocation.created", "timestamp": "2024-06-02T15:00:00.000Z", "data": {"id": "A1", "amount": "10.00"}})
    );
    assert_eq!(rx.rejected(), 0);

    // A receiver with another secret refuses: 401 is permanent.
    let other = Receiver::start("whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCBrZXk=")
        .await
        .expect("receiver");
    let sink2 = build_http(&sink_settings(other.url()))
        .expect("build")
        .sink
        .expect("sink");
    assert!(matches!(
        sink2.deliver(&m).await,
        Err(SinkError::Permanent(_))
    ));
    assert_eq!(other.rejected(), 1);
}

#[tokio::test]
async fn every_http_error_class() {
    let rx = Receiver::start(SECRET).await.expect("receiver");
    let sink = build_http(&sink_settings(rx.url()))
        .expect("build")
        .sink
        .expect("sink");
    let m = msg("e-1", "invoice.updated", json!({}));
    for (f, want) in [
        (ReceiverFailure::Status(500), "retryable"),
        (ReceiverFailure::Status(502), "retryable"),
        (ReceiverFailure::Status(408), "retryable"),
        (ReceiverFailure::Status(503), "retryable"),
        (ReceiverFailure::RateLimited(30), "rate"),
        (ReceiverFailure::Status(400), "permanent"),
        (ReceiverFailure::Status(404), "permanent"),
        (ReceiverFailure::Status(410), "permanent"),
        (
            ReceiverFailure::Delay(Duration::from_millis(1500)),
            "retryable",
        ),
    ] {
        rx.fail_next(1, f.clone());
        let got = match sink.deliver(&m).await {
            Err(SinkError::Retryable(_)) => "retryable",
            Err(SinkError::RateLimited { retry_after, .. }) => {
                assert_eq!(retry_after, Some(Duration::from_secs(30)));
                "rate"
            }
            Err(SinkError::Permanent(_)) => "permanent",
            Ok(_) => "ok",
        };
        assert_eq!(got, want, "{f:?}");
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    let dead = build_http(&sink_settings("http://127.0.0.1:9/x".into()))
        .expect("build")
        .sink
        .expect("sink");
    assert!(
        matches!(dead.deliver(&m).await, Err(SinkError::Retryable(_))),
        "connection refused"
    );
    assert!(
        matches!(build_http(&HttpSettings { signing_secret: None, ..sink_settings("http://x".into()) }), Err(ConnectorError::Config(m)) if m.contains("signing_secret"))
    );
    assert!(
        matches!(build_http(&HttpSettings { signing_secret: Some(SecretString::from("whsec_c2hvcnQ=")), ..sink_settings("http://x".into()) }), Err(ConnectorError::Config(m)) if m.contains("signing_secret"))
    );
}

fn signed(key: &SigningKey, id: &str, ts: i64, body: &[u8]) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("webhook-id".to_string(), id.to_string()),
        ("webhook-timestamp".to_string(), ts.to_string()),
        ("webhook-signature".to_string(), key.sign(id, ts, body)),
    ])
}

#[tokio::test]
async fn webhook_verifies_and_refuses_tampering() {
    let settings = HttpSettings {
        webhook_secret: Some(SecretString::from(SECRET)),
        ..HttpSettings::default()
    };
    let c = build_http(&settings).expect("build");
    assert!(c.sink.is_none() && c.source.is_none());
    let wh = c.webhook.expect("webhook");
    let key = SigningKey::parse(SECRET).expect("key");
    let now = chrono::Utc::now();
    let body = serde_json::to_vec(&json!({"id": "e1", "type": "invoice.updated", "timestamp": now.to_rfc3339(), "data": {
        "erp_id": 77, "uuid": "6F1A2B3C-4D5E-4F60-8A7B-9C0D1E2F3A4B", "customer_rfc": "AAA010101AAA",
        "issued_at": "2024-05-01", "payment_terms_days": 30, "total": 1160.5, "currency": "MXN", "residual": "0"}}))
    .expect("json");
    let headers = signed(&key, "msg_1", now.timestamp(), &body);
    let req = WebhookRequest::new(&headers, &body, now);
    let verified = wh.verify(&req).expect("verified");
    let out = wh.handle(&ctx(), &verified).await.expect("handled");
    let d = out.delivery.expect("delivery");
    assert_eq!(d.external_id, "webhook:msg_1");
    let Some(Record::Invoice(inv)) = d.records.first() else {
        panic!("expected an invoice: {:?}", d.records)
    };
    assert_eq!(inv.due_at.map(|x| x.to_string()), Some("2024-05-31".into()));
    assert_eq!(inv.total.amount().to_string(), "1160.5");
    assert_eq!(inv.erp_id.as_deref(), Some("77"));

    let mut tampered = body.clone();
    if let Some(b) = tampered.iter_mut().find(|b| **b == b'7') {
        *b = b'8';
    }
    let req = WebhookRequest::new(&headers, &tampered, now);
    assert!(matches!(
        wh.verify(&req),
        Err(WebhookError::Unauthorized(_))
    ));
    let mut bad_sig = headers.clone();
    bad_sig.insert(
        "webhook-signature".into(),
        "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into(),
    );
    assert!(matches!(
        wh.verify(&WebhookRequest::new(&bad_sig, &body, now)),
        Err(WebhookError::Unauthorized(_))
    ));
    let stale = signed(&key, "msg_1", now.timestamp() - 3600, &body);
    assert!(matches!(
        wh.verify(&WebhookRequest::new(&stale, &body, now)),
        Err(WebhookError::Unauthorized(_))
    ));
    let none = BTreeMap::new();
    assert!(matches!(
        wh.verify(&WebhookRequest::new(&none, &body, now)),
        Err(WebhookError::Unauthorized(_))
    ));

    // Verified but not understood → malformed; unknown type → acknowledged, nothing stored.
    let junk = br#"{"type":"invoice.updated","data":{"erp_id":1}}"#;
    let h = signed(&key, "msg_2", now.timestamp(), junk);
    let v = wh
        .verify(&WebhookRequest::new(&h, junk, now))
        .expect("verified");
    assert!(
        matches!(wh.handle(&ctx(), &v).await, Err(WebhookError::Malformed(m)) if m.contains("issued_at"))
    );
    let other = br#"{"type":"ping","data":{}}"#;
    let h = signed(&key, "msg_3", now.timestamp(), other);
    let v = wh
        .verify(&WebhookRequest::new(&h, other, now))
        .expect("verified");
    assert!(wh.handle(&ctx(), &v).await.expect("ack").delivery.is_none());
}

#[tokio::test]
async fn pull_pages_by_cursor_then_updated_since() {
    let feed = ErpFeed::start(2).await.expect("feed");
    for i in 0..3 {
        feed.push_customer(json!({"erp_id": format!("C{i}"), "name": format!("Cliente {i}"), "rfc": "AAA010101AAA", "email": "a@x.mx; b@x.mx", "credit_days": 30, "credit_limit": "5000.00", "updated_at": format!("2024-05-0{}T10:00:00Z", i + 1)}));
    }
    feed.push_invoice(json!({"erp_id": "I1", "serie": "A", "folio": "1", "issued_at": "2024-05-01T12:00:00Z", "due_date": "2024-06-15", "total": "1160.00", "currency": "MXN", "residual": 160.25, "updated_at": "2024-05-04T10:00:00Z"}));
    feed.push_invoice(json!({"erp_id": "I2", "issued_at": "2024-05-01", "total": "abc", "currency": "MXN", "updated_at": "2024-05-04T11:00:00Z"}));
    let s = HttpSettings {
        pull_url: Some(feed.url()),
        ..HttpSettings::default()
    };
    let src = build_http(&s).expect("build").source.expect("source");
    let mut cp = None;
    let mut deliveries = Vec::new();
    let mut runs = 0;
    loop {
        let b = src.pull(&ctx(), cp.clone()).await.expect("pull");
        runs += 1;
        deliveries.extend(b.deliveries);
        cp = Some(b.checkpoint);
        if !b.more {
            break;
        }
    }
    assert_eq!(runs, 3);
    assert_eq!(deliveries.len(), 5, "bad entry kept raw");
    let records: Vec<_> = deliveries.iter().flat_map(|d| d.records.clone()).collect();
    assert_eq!(records.len(), 4);
    let Some(Record::Customer(c0)) = records.first() else {
        panic!("customer first")
    };
    assert_eq!(c0.emails, vec!["a@x.mx", "b@x.mx"]);
    assert_eq!(
        c0.credit_limit.map(|d| d.to_string()),
        Some("5000.00".into())
    );
    let inv = records
        .iter()
        .find_map(|r| match r {
            Record::Invoice(i) => Some(i),
            _ => None,
        })
        .expect("invoice");
    assert_eq!(
        inv.erp_residual.map(|d| d.to_string()),
        Some("160.25".into())
    );
    assert_eq!(inv.due_at.map(|d| d.to_string()), Some("2024-06-15".into()));
    let cp_value = cp.clone().expect("checkpoint").0;
    assert_eq!(cp_value, json!({"updated_since": "2024-05-04T10:00:00Z"}));
    let reqs = feed.requests();
    assert_eq!(reqs[1].get("cursor").map(String::as_str), Some("2"));
    // Next run asks only for what changed.
    feed.push_customer(
        json!({"erp_id": "C9", "name": "Nuevo", "updated_at": "2024-05-09T10:00:00Z"}),
    );
    let b = src.pull(&ctx(), cp).await.expect("pull");
    assert_eq!(
        feed.requests()
            .last()
            .and_then(|q| q.get("updated_since"))
            .map(String::as_str),
        Some("2024-05-04T10:00:00Z")
    );
    assert_eq!(
        b.deliveries.len(),
        2,
        "I2 (unparsed, later stamp) and C9: {:?}",
        b.deliveries
            .iter()
            .map(|d| &d.external_id)
            .collect::<Vec<_>>()
    );
    assert!(!b.more);
}
