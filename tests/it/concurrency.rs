//! One ledger, many writers: the daemon in its real configuration (a Stripe webhook connector, the outbox
//! delivering to a sink, reconcile after every import) receives signed webhooks from 64 concurrent senders while
//! `cuadra import cfdi` and `cuadra reconcile` (the binary, another process) write beside it. Every webhook is
//! answered 200 (never 503 "database is locked"), every event is stored once, and the CLI exits 0: the one writer
//! discipline of `docs/storage.md`. An inbox file that meets the database locked by another process is tried again,
//! never moved to `failed/`.

use super::helpers::{
    backends, build_app, config_path, cuadra, eventually, fresh_db, spawn_app, Backend,
};
use super::webhooks::{stripe_event, stripe_signature, STRIPE_SECRET};
use async_trait::async_trait;
use cuadra::registry::Connector;
use cuadra_sdk::{OutboundMessage, Receipt, Sink, SinkError};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

const COMPANY: &str = "EKU9003173C9";
const SENDERS: usize = 64;
const PER_SENDER: usize = 10;
/// CFDI per `import cfdi` round; rounds repeat while the senders send (at least two, at most `MAX_ROUNDS`).
const PER_ROUND: usize = 60;
const MAX_ROUNDS: usize = 20;

/// The outbox's receiver: accepts everything, counts it.
#[derive(Default)]
struct Accept(AtomicUsize);

#[async_trait]
impl Sink for Accept {
    async fn deliver(&self, _msg: &OutboundMessage) -> Result<Receipt, SinkError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(Receipt::default())
    }
}

/// A stamped CFDI 4.0 invoice to a customer of the company.
fn invoice_xml(uuid: &str, folio: usize) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<cfdi:Comprobante xmlns:cfdi="http://www.sat.gob.mx/cfd/4" xmlns:tfd="http://www.sat.gob.mx/TimbreFiscalDigital" Version="4.0" Serie="C" Folio="{folio}" Fecha="2024-05-02T10:00:00" Sello="" NoCertificado="30001000000500003416" Certificado="" SubTotal="1000.00" Moneda="MXN" Total="1160.00" TipoDeComprobante="I" Exportacion="01" MetodoPago="PPD" FormaPago="99" LugarExpedicion="06600">
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

/// A folder of `PER_ROUND` new invoices for round `round`.
fn invoices(dir: &Path, round: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..PER_ROUND {
        let n = round * PER_ROUND + i;
        let uuid = format!("33333333-0000-4000-8000-{n:012x}");
        std::fs::write(dir.join(format!("{n}.xml")), invoice_xml(&uuid, n)).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhooks_and_the_cli_beside_the_daemon_never_meet_a_locked_database() {
    for b in backends().await {
        let db = fresh_db(b).await;
        let extra = format!(
            "[company]\nrfcs = [\"{COMPANY}\"]\n[outbox]\nretry_schedule_secs = [1]\n\
             [connectors.stripe]\nkind = \"stripe\"\nwebhook_secret = \"{STRIPE_SECRET}\"\n"
        );
        let sink = Arc::new(Accept::default());
        let app = build_app(&db, &extra).await.with_connector(Connector {
            name: "erp".into(),
            kind: "test".into(),
            sink: Some(sink.clone()),
            ..Default::default()
        });
        let running = cuadra::daemon::start(app.clone())
            .await
            .expect("start daemon");
        let url = format!("http://{}/webhooks/stripe", running.addr);

        // The CLI, another process: import a folder of new invoices, then reconcile, while the senders send.
        let senders_done = Arc::new(AtomicBool::new(false));
        let cli = {
            let (cwd, cfg) = (db.dir.path().to_path_buf(), config_path(&db));
            let done = senders_done.clone();
            tokio::task::spawn_blocking(move || {
                let cfg = cfg.to_str().unwrap().to_string();
                let mut runs = Vec::new();
                for round in 0..MAX_ROUNDS {
                    if round >= 2 && done.load(Ordering::SeqCst) {
                        break;
                    }
                    let dir = cwd.join(format!("cfdi-{round}"));
                    invoices(&dir, round);
                    let import = cuadra(
                        &cwd,
                        &["--config", &cfg, "import", "cfdi", dir.to_str().unwrap()],
                    );
                    let reconcile = cuadra(&cwd, &["--config", &cfg, "reconcile"]);
                    runs.push((round, import, reconcile));
                }
                runs
            })
        };

        let client = reqwest::Client::new();
        let senders: Vec<_> = (0..SENDERS)
            .map(|s| {
                let (client, url) = (client.clone(), url.clone());
                tokio::spawn(async move {
                    let mut answers = Vec::new();
                    for i in 0..PER_SENDER {
                        let n = s * PER_SENDER + i;
                        let body = stripe_event(
                            &format!("evt_conc_{n}"),
                            &format!("pi_conc_{n}"),
                            10_000 + n as i64,
                        );
                        let r = client
                            .post(&url)
                            .header("stripe-signature", stripe_signature(STRIPE_SECRET, &body))
                            .body(body)
                            .send()
                            .await
                            .expect("loopback request");
                        let code = r.status().as_u16();
                        answers.push((n, code, r.text().await.unwrap_or_default()));
                    }
                    answers
                })
            })
            .collect();
        let mut refused = Vec::new();
        for s in senders {
            refused.extend(
                s.await
                    .unwrap()
                    .into_iter()
                    .filter(|(_, code, _)| *code != 200),
            );
        }
        senders_done.store(true, Ordering::SeqCst);
        let runs = cli.await.unwrap();

        assert!(
            refused.is_empty(),
            "{b:?}: {} of {} webhooks refused, e.g. {:?}",
            refused.len(),
            SENDERS * PER_SENDER,
            &refused[..refused.len().min(5)]
        );
        for (round, import, reconcile) in &runs {
            for (what, out) in [("import cfdi", import), ("reconcile", reconcile)] {
                assert_eq!(
                    out.status.code(),
                    Some(0),
                    "{b:?}: `cuadra {what}` of round {round} failed beside the daemon: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        eprintln!(
            "{b:?}: {} webhooks answered 200 beside {} rounds of `import cfdi` + `reconcile`",
            SENDERS * PER_SENDER,
            runs.len()
        );
        let store = &app.store;
        assert_eq!(
            store.count("payments").await.unwrap(),
            (SENDERS * PER_SENDER) as i64,
            "{b:?}: every event stored once"
        );
        assert_eq!(
            store.count("invoices").await.unwrap(),
            (runs.len() * PER_ROUND) as i64,
            "{b:?}: every invoice of every round stored"
        );
        assert_eq!(
            store.count("raw_inbox").await.unwrap(),
            (SENDERS * PER_SENDER + runs.len() * PER_ROUND) as i64,
            "{b:?}: one raw delivery per event and per CFDI"
        );
        running.shutdown(std::time::Duration::from_secs(5)).await;
    }
}

/// An inbox file whose import meets the database locked by another process (past the busy timeout and the store's
/// retries) is not a bad file: it stays in the inbox, is tried again at the next look, and is imported once the lock
/// is gone; nothing goes to `failed/`. SQLite only (PostgreSQL has no database-wide write lock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbox_file_that_meets_a_locked_database_is_tried_again() {
    use sqlx::Connection;
    let t = spawn_app(
        Backend::Sqlite,
        &format!("[company]\nrfcs = [\"{COMPANY}\"]\n"),
    )
    .await;
    let inbox = t.inbox();
    std::fs::create_dir_all(&inbox).unwrap();
    // Another process's writer: holds SQLite's write lock until released below.
    let mut other = sqlx::SqliteConnection::connect(&t.db.url)
        .await
        .expect("a second connection");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .expect("take the write lock");
    let uuid = "44444444-0000-4000-8000-000000000001";
    std::fs::write(inbox.join("locked.xml"), invoice_xml(uuid, 1)).unwrap();
    let met = || {
        cuadra::metrics::handle()
            .render()
            .contains("cuadra_inbox_files_total{result=\"retry\"}")
    };
    let failed = inbox.join("failed/locked.xml.error.txt");
    eventually(60, || async { met() || failed.exists() }).await;
    assert!(
        !failed.exists(),
        "moved to failed/ for a transient error: {}",
        std::fs::read_to_string(&failed).unwrap_or_default()
    );
    assert!(met(), "the inbox never met the locked database");
    assert!(inbox.join("locked.xml").exists(), "left in the inbox");
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    other.close().await.unwrap();
    let imported = eventually(60, || async { inbox.join("done/locked.xml").exists() }).await;
    assert!(imported, "imported once the lock was gone");
    assert!(!inbox.join("failed").exists(), "nothing in failed/");
    assert_eq!(t.app.store.count("invoices").await.unwrap(), 1);
    t.stop().await;
}
