//! Webhook intake benchmark: starts the daemon in-process (SQLite in a temp folder, one Stripe connector) and
//! drives signed `payment_intent.succeeded` webhooks with distinct event ids at `POST /webhooks/stripe` from an
//! in-process HTTP load loop with N concurrent connections. Every request is verified, stored durably and
//! answered before it counts. Reports durable requests/s and p50/p90/p99/max latency, the answers that were not
//! 2xx by status (503s apart), then checks that every payment is in the ledger.
//!
//! `cargo bench --bench webhook_intake` (env: `WEBHOOK_BENCH_COUNT`, default 20000; `WEBHOOK_BENCH_CONCURRENCY`,
//! default 32; `WEBHOOK_BENCH_DATABASE_URL` to aim at PostgreSQL instead of a temp SQLite file).
//!
//! `WEBHOOK_BENCH_MIXED=1`: the issue 18 mixed load. The daemon in its real configuration (reconcile after every
//! import, the outbox delivering to a sink, the inbox folder watched) receives the webhooks while `cuadra import
//! cfdi` of a folder of new invoices and `cuadra reconcile` (the binary: other processes on the same SQLite file)
//! run beside it in rounds until the senders are done. Fails unless there are zero 503s, every CLI run exits 0 and
//! every event and invoice is stored. Figures: docs/storage.md, "Many writers".

use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
    let mixed = std::env::var("WEBHOOK_BENCH_MIXED").is_ok_and(|v| !v.is_empty() && v != "0");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(count, concurrency, mixed))
}

const COMPANY: &str = "EKU9003173C9";
/// CFDI per `import cfdi` round of the mixed load.
const PER_ROUND: usize = 200;

/// A stamped CFDI 4.0 invoice of the company.
fn invoice_xml(uuid: &str, folio: usize) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<cfdi:Comprobante xmlns:cfdi="http://www.sat.gob.mx/cfd/4" xmlns:tfd="http://www.sat.gob.mx/TimbreFiscalDigital" Version="4.0" Serie="B" Folio="{folio}" Fecha="2024-05-02T10:00:00" Sello="" NoCertificado="30001000000500003416" Certificado="" SubTotal="1000.00" Moneda="MXN" Total="1160.00" TipoDeComprobante="I" Exportacion="01" MetodoPago="PPD" FormaPago="99" LugarExpedicion="06600">
  <cfdi:Emisor Rfc="{COMPANY}" Nombre="ESCUELA KEMPER URGATE" RegimenFiscal="601"/>
  <cfdi:Receptor Rfc="KIJ0906199R1" Nombre="KIJ, S.A DE C.V." DomicilioFiscalReceptor="59820" RegimenFiscalReceptor="601" UsoCFDI="G03"/>
  <cfdi:Conceptos><cfdi:Concepto ClaveProdServ="84111506" Cantidad="1" ClaveUnidad="E48" Descripcion="Servicio" ValorUnitario="1000.00" Importe="1000.00" ObjetoImp="01"/></cfdi:Conceptos>
  <cfdi:Complemento>
    <tfd:TimbreFiscalDigital Version="1.1" UUID="{uuid}" FechaTimbrado="2024-05-02T10:00:00" RfcProvCertif="SAT970701NN3" SelloCFD="" NoCertificadoSAT="30001000000400002311" SelloSAT=""/>
  </cfdi:Complemento>
</cfdi:Comprobante>
"#
    )
}

/// The outbox's receiver in the mixed load: accepts everything.
struct Accept;

#[async_trait::async_trait]
impl cuadra_sdk::Sink for Accept {
    async fn deliver(
        &self,
        _msg: &cuadra_sdk::OutboundMessage,
    ) -> Result<cuadra_sdk::Receipt, cuadra_sdk::SinkError> {
        Ok(cuadra_sdk::Receipt::default())
    }
}

/// The CLI beside the daemon: rounds of `cuadra import cfdi` (a folder of new invoices) then `cuadra reconcile`
/// until `done` (at least one round). Returns the rounds run and the failed runs' messages.
fn cli_rounds(
    dir: &std::path::Path,
    cfg: &std::path::Path,
    done: &AtomicBool,
) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let mut round = 0;
    while round == 0 || !done.load(Ordering::SeqCst) {
        let folder = dir.join(format!("cfdi-{round}"));
        let _ = std::fs::create_dir_all(&folder);
        for i in 0..PER_ROUND {
            let n = round * PER_ROUND + i;
            let uuid = format!("55555555-0000-4000-8000-{n:012x}");
            let _ = std::fs::write(folder.join(format!("{n}.xml")), invoice_xml(&uuid, n));
        }
        for args in [
            vec!["import", "cfdi", folder.to_str().unwrap_or("")],
            vec!["reconcile"],
        ] {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_cuadra"))
                .arg("--config")
                .arg(cfg)
                .args(&args)
                .current_dir(dir)
                .output();
            match out {
                Ok(o) if o.status.success() => {}
                Ok(o) => failures.push(format!(
                    "round {round}: cuadra {} exited {:?}: {}",
                    args[0],
                    o.status.code(),
                    String::from_utf8_lossy(&o.stderr)
                )),
                Err(e) => failures.push(format!("round {round}: cannot run cuadra: {e}")),
            }
        }
        round += 1;
    }
    (round, failures)
}

async fn run(count: usize, concurrency: usize, mixed: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = std::env::var("WEBHOOK_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let cfg = dir.path().join("cuadra.toml");
    std::fs::write(
        &cfg,
        format!(
            "[database]\nurl = \"{url}\"\n[http]\nlisten = \"127.0.0.1:0\"\n[inbox]\npath = \"{}\"\n\
             [company]\nrfcs = [\"{COMPANY}\"]\n\
             [connectors.stripe]\nkind = \"stripe\"\nwebhook_secret = \"{SECRET}\"\n",
            dir.path().join("inbox").display()
        ),
    )?;
    let settings =
        cuadra::config::Settings::load_with_env(Some(&cfg), Vec::<(String, String)>::new())?;
    let mut app = cuadra::app::App::build(settings).await?;
    if mixed {
        app = app.with_connector(cuadra::registry::Connector {
            name: "erp".into(),
            kind: "bench".into(),
            sink: Some(Arc::new(Accept)),
            ..Default::default()
        });
    }
    let before = app.store.count("payments").await?;
    let invoices_before = app.store.count("invoices").await?;
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

    let senders_done = Arc::new(AtomicBool::new(false));
    let cli = mixed.then(|| {
        let (dir, cfg, done) = (dir.path().to_path_buf(), cfg.clone(), senders_done.clone());
        tokio::task::spawn_blocking(move || cli_rounds(&dir, &cfg, &done))
    });
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
            let mut failed: Vec<u16> = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests.len() {
                    break;
                }
                let (sig, body) = &requests[i];
                let t0 = Instant::now();
                // The answer's status; 0 for a request that got none.
                let code = match client
                    .post(&endpoint)
                    .header("stripe-signature", sig.as_str())
                    .body(body.clone())
                    .send()
                    .await
                {
                    Ok(r) => {
                        let code = r.status().as_u16();
                        if r.bytes().await.is_ok() {
                            code
                        } else {
                            0
                        }
                    }
                    Err(_) => 0,
                };
                lat.push(t0.elapsed());
                if !(200..300).contains(&code) {
                    failed.push(code);
                }
            }
            (lat, failed)
        }));
    }
    let mut lat = Vec::with_capacity(count);
    let mut codes: Vec<u16> = Vec::new();
    for w in workers {
        let (l, f) = w.await?;
        lat.extend(l);
        codes.extend(f);
    }
    let elapsed = started.elapsed();
    senders_done.store(true, Ordering::SeqCst);
    let (rounds, cli_failures) = match cli {
        Some(cli) => cli.await?,
        None => (0, Vec::new()),
    };
    lat.sort();
    let failed = codes.len();
    let unavailable = codes.iter().filter(|c| **c == 503).count();
    let stored = app.store.count("payments").await? - before;
    let invoices = app.store.count("invoices").await? - invoices_before;
    println!(
        "webhook_intake: {} signed Stripe webhooks, {} connections, {}{}",
        count,
        concurrency,
        if url.starts_with("sqlite") {
            "SQLite"
        } else {
            "PostgreSQL"
        },
        if mixed {
            ", mixed: outbox to a sink, reconcile after imports, inbox on, `cuadra import cfdi` + `cuadra reconcile` beside"
        } else {
            ""
        }
    );
    println!(
        "  {:.0} durable requests/s ({:.2} s total), not 2xx {failed} (503: {unavailable}; other statuses, 0 = no answer: {:?})",
        count as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64(),
        codes.iter().filter(|c| **c != 503).take(10).collect::<Vec<_>>()
    );
    if mixed {
        println!(
            "  CLI beside the daemon: {rounds} rounds of `import cfdi` ({PER_ROUND} invoices) + `reconcile`, {} failed runs, {invoices} invoices stored",
            cli_failures.len()
        );
        for f in cli_failures.iter().take(5) {
            println!("    {f}");
        }
    }
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
    anyhow::ensure!(
        failed == 0,
        "{failed} requests failed ({unavailable} with 503)"
    );
    anyhow::ensure!(
        cli_failures.is_empty(),
        "{} CLI runs failed",
        cli_failures.len()
    );
    anyhow::ensure!(
        invoices as usize == rounds * PER_ROUND,
        "stored {invoices} invoices of {}",
        rounds * PER_ROUND
    );
    anyhow::ensure!(
        stored as usize == count + concurrency.min(50),
        "stored {stored} payments"
    );
    Ok(())
}
