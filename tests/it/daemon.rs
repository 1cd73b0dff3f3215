//! The daemon through HTTP and the inbox folder, on both backends.

use super::helpers::{backends, eventually, spawn_app};

#[tokio::test]
async fn health_readiness_metrics_and_unknown_webhook() {
    for b in backends().await {
        let t = spawn_app(b, "").await;
        let c = reqwest::Client::new();
        assert_eq!(
            c.get(format!("{}/healthz", t.base))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        assert_eq!(
            c.get(format!("{}/readyz", t.base))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        let r = c
            .post(format!("{}/webhooks/nobody", t.base))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{b:?}");
        assert_eq!(t.app.store.count("raw_inbox").await.unwrap(), 0);
        let m = c
            .get(format!("{}/metrics", t.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(m.contains("cuadra_webhook_requests_total"), "{m}");
        t.stop().await;
    }
}

#[tokio::test]
async fn inbox_imports_customers_and_moves_files() {
    for b in backends().await {
        let t = spawn_app(b, "").await;
        let inbox = t.inbox();
        std::fs::create_dir_all(&inbox).unwrap();
        std::fs::write(
            inbox.join("clientes.csv"),
            super::customers::customer_csv(5, &[]),
        )
        .unwrap();
        std::fs::write(
            inbox.join("bad.csv"),
            super::customers::customer_csv(5, &[1, 2, 3]),
        )
        .unwrap();
        std::fs::write(inbox.join("mystery.bin"), b"\x00\x01").unwrap();
        let done = inbox.join("done/clientes.csv");
        let failed = inbox.join("failed/mystery.bin.error.txt");
        let bad = inbox.join("failed/bad.csv.error.txt");
        assert!(
            eventually(15, || async {
                done.exists() && failed.exists() && bad.exists()
            })
            .await,
            "{b:?}: files were not moved"
        );
        let reason = std::fs::read_to_string(&bad).unwrap();
        assert!(
            reason.contains("line 3") && reason.contains("line 5"),
            "{reason}"
        );
        // The good rows of the partly bad file (customers 0 and 4) are the same customers as in clientes.csv.
        assert_eq!(t.app.store.count("customers").await.unwrap(), 5, "{b:?}");
        assert!(!inbox.join("clientes.csv").exists());
        t.stop().await;
    }
}

/// A fresh daemon describes every series with counters at 0 (Prometheus needs them before the first event), says
/// its build, and counts the 413 of an oversized webhook body like any other answer.
#[tokio::test]
async fn fresh_metrics_list_every_series_and_count_413s() {
    let t = spawn_app(
        super::helpers::Backend::Sqlite,
        &format!(
            "[connectors.stripe_metrics]\nkind = \"stripe\"\nwebhook_secret = \"{}\"\n",
            super::webhooks::STRIPE_SECRET
        ),
    )
    .await;
    let c = reqwest::Client::new();
    let metrics = || async {
        c.get(format!("{}/metrics", t.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let m = metrics().await;
    for line in [
        "# HELP cuadra_build_info",
        &format!(
            "cuadra_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        ),
        "# HELP cuadra_inbox_files_total",
        "cuadra_inbox_files_total{result=\"retry\"}",
        "cuadra_inbox_files_total{result=\"failed\"}",
        "# HELP cuadra_outbox_depth",
        "# HELP cuadra_webhook_requests_total",
        "cuadra_webhook_requests_total{connector=\"stripe_metrics\",status=\"200\"} 0",
    ] {
        assert!(m.contains(line), "missing {line:?} in:\n{m}");
    }
    let big = vec![b'{'; 2 * 1024 * 1024];
    let r = c
        .post(format!("{}/webhooks/stripe_metrics", t.base))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let m = metrics().await;
    assert!(
        m.contains("cuadra_webhook_requests_total{connector=\"stripe_metrics\",status=\"413\"} 1"),
        "{m}"
    );
    t.stop().await;
}

/// A folder dropped into the inbox is moved to `failed/` with a reason once its content is stable, instead of
/// being ignored forever; `done/` and `failed/` themselves are left alone.
#[tokio::test]
async fn a_folder_in_the_inbox_goes_to_failed_with_a_reason() {
    for b in backends().await {
        let t = spawn_app(b, "").await;
        let inbox = t.inbox();
        std::fs::create_dir_all(inbox.join("facturas_enero/sub")).unwrap();
        std::fs::write(inbox.join("facturas_enero/a.xml"), b"<x/>").unwrap();
        std::fs::write(inbox.join("facturas_enero/sub/b.xml"), b"<y/>").unwrap();
        let moved = inbox.join("failed/facturas_enero");
        let reason = inbox.join("failed/facturas_enero.error.txt");
        assert!(
            eventually(15, || async {
                moved.join("sub/b.xml").exists() && reason.exists()
            })
            .await,
            "{b:?}: the folder is still in the inbox"
        );
        let why = std::fs::read_to_string(&reason).unwrap();
        assert!(
            why.contains("a folder") && why.contains("cuadra import"),
            "{why}"
        );
        assert!(!inbox.join("facturas_enero").exists());
        assert!(!inbox.join("failed/failed").exists());
        t.stop().await;
    }
}
