//! Webhook intake benchmark: starts the daemon in-process (SQLite in a temp folder, one Stripe connector) and
//! drives signed `payment_intent.succeeded` webhooks with distinct event ids at `POST /webhooks/stripe` from an
//! in-process HTTP load loop with N concurrent connections. Every request is verified, stored durably and
//! answered before it counts. Reports durable requests/s and p50/p90/p99/max latency, then checks that every
//! payment is in the ledger.
//!
//! `cargo bench --bench webhook_intake` (env: `WEBHOOK_BENCH_COUNT`, default 20000; `WEBHOOK_BENCH_CONCURRENCY`,
//! default 32; `WEBHOOK_BENCH_DATABASE_URL` to aim at PostgreSQL instead of a temp SQLite file).

use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "whsec_bench_secret";

fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

fn signed(i: usize, now: i64) -> (String, Vec<u8>) {
    let body = serde_json::json!({
        "id": format!("evt_bench_{i:08}"), "object": "event", "type": "payment_intent.succeeded", "created": now,
        "data": {"object": {"id": format!("pi_bench_{i:08}"), "object": "payment_intent",
            "amount": 10_000 + i as i64, "amount_received": 10_000 + i as i64, "currency": "mxn",
            "status": "succeeded", "metadata": {"invoice_uuid": "6d7434a6-e3f2-47ad-9e4c-08849946afa0"}}}
    })
    .to_string()
    .into_bytes();
    let t = now.to_string();
    let sig = hmac_sha256(SECRET.as_bytes(), &[t.as_bytes(), b".", &body].concat());
    (format!("t={t},v1={}", hex::encode(sig)), body)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() -> anyhow::Result<()> {
    let count = env_usize("WEBHOOK_BENCH_COUNT", 20_000);
    let concurrency = env_usize("WEBHOOK_BENCH_CONCURRENCY", 32);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(count, concurrency))
}

async fn run(count: usize, concurrency: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = std::env::var("WEBHOOK_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let cfg = dir.path().join("cuadra.toml");
    std::fs::write(
        &cfg,
        format!(
            "[database]\nurl = \"{url}\"\n[http]\nlisten = \"127.0.0.1:0\"\n[inbox]\npath = \"{}\"\n\
             [connectors.stripe]\nkind = \"stripe\"\nwebhook_secret = \"{SECRET}\"\n",
            dir.path().join("inbox").display()
        ),
    )?;
    let settings =
        cuadra::config::Settings::load_with_env(Some(&cfg), Vec::<(String, String)>::new())?;
    let app = cuadra::app::App::build(settings).await?;
    let before = app.store.count("payments").await?;
    let running = cuadra::daemon::start(app.clone()).await?;
    let endpoint = format!("http://{}/webhooks/stripe", running.addr);

    let now = chrono::Utc::now().timestamp();
    let requests: Arc<Vec<(String, Vec<u8>)>> =
        Arc::new((0..count).map(|i| signed(i, now)).collect());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    // Warm-up: connections open, statements prepared (not counted; distinct ids past the measured range).
    for i in 0..concurrency.min(50) {
        let (sig, body) = signed(count + i, now);
        client
            .post(&endpoint)
            .header("stripe-signature", sig)
            .body(body)
            .send()
            .await?
            .error_for_status()?;
    }

    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, endpoint, requests, next) = (
            client.clone(),
            endpoint.clone(),
            requests.clone(),
            next.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut failed = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests.len() {
                    break;
                }
                let (sig, body) = &requests[i];
                let t0 = Instant::now();
                let ok = match client
                    .post(&endpoint)
                    .header("stripe-signature", sig.as_str())
                    .body(body.clone())
                    .send()
                    .await
                {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                lat.push(t0.elapsed());
                if !ok {
                    failed += 1;
                }
            }
            (lat, failed)
        }));
    }
    let mut lat = Vec::with_capacity(count);
    let mut failed = 0;
    for w in workers {
        let (l, f) = w.await?;
        lat.extend(l);
        failed += f;
    }
    let elapsed = started.elapsed();
    lat.sort();
    let stored = app.store.count("payments").await? - before;
    println!(
        "webhook_intake: {} signed Stripe webhooks, {} connections, {}",
        count,
        concurrency,
        if url.starts_with("sqlite") {
            "SQLite"
        } else {
            "PostgreSQL"
        }
    );
    println!(
        "  {:.0} durable requests/s ({:.2} s total), failed {failed}",
        count as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    println!(
        "  latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(&lat, 0.50).as_secs_f64() * 1e3,
        pct(&lat, 0.90).as_secs_f64() * 1e3,
        pct(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    println!(
        "  payments stored: {stored} (expected {})",
        count + concurrency.min(50)
    );
    running.shutdown(Duration::from_secs(5)).await;
    app.store.close().await;
    anyhow::ensure!(failed == 0, "{failed} requests failed");
    anyhow::ensure!(
        stored as usize == count + concurrency.min(50),
        "stored {stored} payments"
    );
    Ok(())
}
