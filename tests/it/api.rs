//! The admin API: bearer tokens, reports, manual match and unmatch, the outbox, the OpenAPI document.

use super::helpers::{backends, fresh_db};

#[tokio::test]
async fn api_needs_a_token_and_acts_like_the_cli() {
    for b in backends().await {
        let db = fresh_db(b).await;
        let cfg = db.dir.path().join("api.toml");
        std::fs::write(
            &cfg,
            format!(
                "[database]\nurl = \"{}\"\n[http]\nlisten = \"127.0.0.1:0\"\napi_tokens = [\"s3cret-token\"]\n[inbox]\nenabled = false\n",
                db.url
            ),
        )
        .unwrap();
        let settings =
            cuadra::config::Settings::load_with_env(Some(&cfg), Vec::<(String, String)>::new())
                .unwrap();
        let app = cuadra::app::App::build(settings).await.unwrap();
        let running = cuadra::daemon::start(app.clone()).await.unwrap();
        let base = format!("http://{}", running.addr);
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
            .bearer_auth("s3cret-token")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r[0]["total"], "100.00", "{b:?}");
        let r = c
            .post(url("/api/v1/match"))
            .bearer_auth("s3cret-token")
            .json(&serde_json::json!({"payment_id": 999, "invoices": [{"invoice": "A-1"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{b:?}: no such payment");
        let r = c
            .post(url("/api/v1/match"))
            .bearer_auth("s3cret-token")
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
            .bearer_auth("s3cret-token")
            .json(&serde_json::json!({"payment_id": 999, "invoices": [{"invoice": "Z-9"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{b:?}: no such invoice");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invoice Z-9: not found", "{body}");
        let r = c
            .post(url("/api/v1/reconcile?dry_run=true"))
            .bearer_auth("s3cret-token")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{b:?}");
        let s: serde_json::Value = r.json().await.unwrap();
        assert_eq!(s["allocations"], 0, "{b:?}: {s}");
        let r = c
            .get(url("/api/v1/outbox?state=dead"))
            .bearer_auth("s3cret-token")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            c.post(url("/api/v1/outbox/12345/retry"))
                .bearer_auth("s3cret-token")
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
        running.shutdown(std::time::Duration::from_secs(5)).await;
    }
}
