//! The admin API: bearer tokens, reports, manual match and unmatch, the outbox, the OpenAPI document.

use super::helpers::{backends, http_daemon, Backend, HttpDaemon};

#[tokio::test]
async fn api_needs_a_token_and_acts_like_the_cli() {
    for b in backends().await {
        let HttpDaemon {
            app,
            running,
            base,
            db: _db,
        } = http_daemon(b, "api_tokens = [\"s3cret-token-0123456789ab\"]").await;
        let c = reqwest::Client::new();
        let url = |p: &str| format!("{base}{p}");
        assert_eq!(
            c.get(url("/api/v1/reports/invoices"))
                .send()
                .await
                .unwrap()
                .status(),
            401
        );
        assert_eq!(
            c.get(url("/api/v1/reports/invoices"))
                .bearer_auth("wrong")
                .send()
                .await
                .unwrap()
                .status(),
            401
        );
        let spec: serde_json::Value = c
            .get(url("/api/v1/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(spec["openapi"], "3.0.3");
        // One gate in front of every guarded route: its answer names the setting; unknown paths stay 404.
        let r = c
            .post(url("/api/v1/match"))
            .json(&serde_json::json!({"payment_id": 1, "invoices": []}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(
            body["error"], "a bearer token from http.api_tokens is required",
            "{body}"
        );
        assert_eq!(
            c.get(url("/api/v1/nothing-here"))
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
        app.store
            .ingest(
                "t",
                &[super::store::invoice(
                    "11111111-1111-4111-8111-111111111111",
                    "1",
                    "100.00",
                )],
                None,
            )
            .await
            .unwrap();
        let r: serde_json::Value = c
            .get(url("/api/v1/reports/invoices"))
            .bearer_auth("s3cret-token-0123456789ab")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r[0]["total"], "100.00", "{b:?}");
        let r = c
            .post(url("/api/v1/match"))
            .bearer_auth("s3cret-token-0123456789ab")
            .json(&serde_json::json!({"payment_id": 999, "invoices": [{"invoice": "A-1"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{b:?}: no such payment");
        let r = c
            .post(url("/api/v1/match"))
            .bearer_auth("s3cret-token-0123456789ab")
            .json(&serde_json::json!({"payment_id": 999, "invoices": [{"invoice": "A-1", "amount": "-5"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{b:?}: a negative amount");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(
            body["error"], "invoices[].amount: \"-5\" is not a positive decimal",
            "{body}"
        );
        let r = c
            .post(url("/api/v1/match"))
            .bearer_auth("s3cret-token-0123456789ab")
            .json(&serde_json::json!({"payment_id": 999, "invoices": [{"invoice": "Z-9"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{b:?}: no such invoice");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invoice Z-9: not found", "{body}");
        let r = c
            .post(url("/api/v1/reconcile?dry_run=true"))
            .bearer_auth("s3cret-token-0123456789ab")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{b:?}");
        let s: serde_json::Value = r.json().await.unwrap();
        assert_eq!(s["allocations"], 0, "{b:?}: {s}");
        let r = c
            .get(url("/api/v1/outbox?state=dead"))
            .bearer_auth("s3cret-token-0123456789ab")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            c.post(url("/api/v1/outbox/12345/retry"))
                .bearer_auth("s3cret-token-0123456789ab")
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
        running.shutdown(std::time::Duration::from_secs(5)).await;
    }
}

/// A daemon on SQLite with these `[http]` keys (besides the listen address) and the inbox off.
async fn api_daemon(http: &str) -> (cuadra::daemon::Running, String, super::helpers::TestDb) {
    let d = http_daemon(Backend::Sqlite, http).await;
    (d.running, d.base, d.db)
}

fn load(http: &str) -> anyhow::Result<cuadra::config::Settings> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.toml");
    std::fs::write(&p, format!("[http]\n{http}\n")).unwrap();
    cuadra::config::Settings::load_with_env(Some(&p), Vec::<(String, String)>::new())
}

#[test]
fn short_tokens_and_a_missing_or_empty_tokens_file_are_refused_at_load() {
    for short in ["", "x", "s3cret", "ops:admin:short-token"] {
        let e = load(&format!("api_tokens = [{short:?}]")).unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            msg.contains("http.api_tokens[0]") && msg.contains("at least 24"),
            "{msg}"
        );
        assert!(
            short.len() < 3 || !msg.contains(short),
            "the token leaked: {msg}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let e = load(&format!(
        "api_tokens_file = {:?}",
        missing.display().to_string()
    ))
    .unwrap_err();
    assert!(format!("{e:#}").contains("http.api_tokens_file"), "{e:#}");
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n# no tokens yet\n").unwrap();
    let e = load(&format!(
        "api_tokens_file = {:?}",
        empty.display().to_string()
    ))
    .unwrap_err();
    assert!(format!("{e:#}").contains("holds no token"), "{e:#}");
    let good = dir.path().join("good");
    std::fs::write(
        &good,
        "legacy-bare-token-0123456789\nreports:read:read-token-0123456789abcdef\n",
    )
    .unwrap();
    let s = load(&format!(
        "api_tokens_file = {:?}",
        good.display().to_string()
    ))
    .unwrap();
    let t = s.api_tokens().unwrap();
    assert_eq!(
        (t[0].name.as_str(), t[0].scope),
        ("api", cuadra::config::ApiScope::Admin)
    );
    assert_eq!(
        (t[1].name.as_str(), t[1].scope),
        ("reports", cuadra::config::ApiScope::Read)
    );
}

#[tokio::test]
async fn tokens_have_scopes() {
    let (running, base, _db) = api_daemon(
        "api_tokens = [\"reports:read:read-token-0123456789abcdef\", \"clerk:write:write-token-0123456789abcdef\", \"ops:admin:admin-token-0123456789abcdef\"]",
    )
    .await;
    let c = reqwest::Client::new();
    let status = |method: reqwest::Method, path: &str, token: &str| {
        let r = c
            .request(method, format!("{base}{path}"))
            .bearer_auth(token)
            .json(&serde_json::json!({}));
        async move { r.send().await.unwrap().status().as_u16() }
    };
    use reqwest::Method;
    let (read, write, admin) = (
        "read-token-0123456789abcdef",
        "write-token-0123456789abcdef",
        "admin-token-0123456789abcdef",
    );
    assert_eq!(
        status(Method::GET, "/api/v1/reports/invoices", read).await,
        200
    );
    assert_eq!(status(Method::GET, "/api/v1/outbox", read).await, 200);
    assert_eq!(
        status(Method::POST, "/api/v1/reconcile?dry_run=true", read).await,
        403
    );
    assert_eq!(status(Method::POST, "/api/v1/unmatch", read).await, 403);
    assert_eq!(
        status(Method::POST, "/api/v1/reconcile?dry_run=true", write).await,
        200
    );
    assert_eq!(
        status(Method::POST, "/api/v1/outbox/1/retry", write).await,
        403
    );
    assert_eq!(
        status(Method::POST, "/api/v1/outbox/1/drop", write).await,
        403
    );
    assert_eq!(
        status(Method::POST, "/api/v1/outbox/1/retry", admin).await,
        404
    );
    assert_eq!(
        status(Method::POST, "/api/v1/reconcile?dry_run=true", admin).await,
        200
    );
    running.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn failed_attempts_are_counted_and_backed_off() {
    let token = "ops:admin:admin-token-0123456789abcdef";
    let (running, base, _db) = api_daemon(&format!("api_tokens = [{token:?}]")).await;
    let c = reqwest::Client::new();
    let url = format!("{base}/api/v1/reports/invoices");
    for i in 0..10 {
        let r = c
            .get(&url)
            .bearer_auth(format!("wrong-{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "attempt {i}");
    }
    // The eleventh, even with the right token, waits for the window to end.
    let r = c
        .get(&url)
        .bearer_auth("admin-token-0123456789abcdef")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&after), "{after}");
    let metrics = c
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("cuadra_api_auth_failures_total") && l.contains("unknown_token"))
        .unwrap_or_else(|| panic!("no failure counter in {metrics}"));
    let n: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n >= 10.0, "{line}");
    running.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn the_token_name_is_the_audit_actor() {
    use cuadra_sdk::*;
    use sqlx::Row;
    for b in backends().await {
        let HttpDaemon {
            app,
            running,
            base,
            db: _db,
        } = http_daemon(
            b,
            "api_tokens = [\"clerk:write:write-token-0123456789abcdef\"]",
        )
        .await;
        let payment = Delivery {
            kind: "test-bank".into(),
            external_id: "pay-1".into(),
            raw: b"payment pay-1".to_vec(),
            records: vec![Record::Payment(PaymentRecord {
                kind: PaymentKind::Bank,
                external_id: "pay-1".into(),
                own_account: None,
                booked_on: chrono::NaiveDate::from_ymd_opt(2026, 2, 1).unwrap(),
                value_date: None,
                amount: Money::parse("100.00", Currency::MXN).unwrap(),
                bank_reference: None,
                clave_rastreo: None,
                payer_name: None,
                payer_rfc: None,
                payer_account: None,
                referencia_numerica: None,
                concepto: None,
                document_id: None,
                operation_number: None,
                remittance: vec![],
                customer_hint: None,
                status: None,
            })],
        };
        app.store
            .ingest(
                "t",
                &[
                    super::store::invoice("11111111-1111-4111-8111-111111111111", "1", "100.00"),
                    payment,
                ],
                None,
            )
            .await
            .unwrap();
        let pid: i64 = sqlx::query("SELECT id FROM payments WHERE external_id = 'pay-1'")
            .fetch_one(app.store.pool())
            .await
            .unwrap()
            .get(0);
        let r = reqwest::Client::new()
            .post(format!("{base}/api/v1/match"))
            .bearer_auth("write-token-0123456789abcdef")
            .json(&serde_json::json!({"payment_id": pid, "invoices": [{"invoice": "A-1"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{b:?}: {}", r.text().await.unwrap());
        let actor: String = sqlx::query("SELECT actor FROM audit_log WHERE action = 'match'")
            .fetch_one(app.store.pool())
            .await
            .unwrap()
            .get(0);
        assert_eq!(actor, "clerk", "{b:?}");
        running.shutdown(std::time::Duration::from_secs(5)).await;
    }
}
