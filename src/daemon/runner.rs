//! Running source connectors: on their cron schedule in the daemon, or once from `cuadra sync`. A run's records and
//! its checkpoint are stored in one transaction; runs of the same connector never overlap.

use crate::app::App;
use crate::registry::Connector;
use cuadra_sdk::Checkpoint;
use std::time::Instant;
use tokio::sync::watch;
use tokio_cron_scheduler::{Job, JobScheduler};

/// Counts of one run.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct RunReport {
    pub batches: u64,
    pub deliveries: u64,
    pub new: u64,
}

/// Runs one source connector until it has no immediate work left (`more = false`).
pub async fn run_source_once(app: &App, conn: &Connector) -> anyhow::Result<RunReport> {
    let Some(source) = conn.source.clone() else {
        anyhow::bail!(
            "connector {} ({}) has nothing to pull",
            conn.name,
            conn.kind
        );
    };
    let lock = app.run_lock(&conn.name);
    let Ok(_guard) = lock.try_lock() else {
        anyhow::bail!("connector {} is already running", conn.name);
    };
    // Across processes and instances (a `cuadra sync` beside a running daemon, several daemons on PostgreSQL).
    // Renewed on its own task too (one batch, a large SAT package, may take longer than the lease), and at
    // every batch below.
    let lease = format!("connector:{}", conn.name);
    let Some(held) = app.store.hold_lease(&lease, &app.instance_id).await? else {
        anyhow::bail!(
            "connector {} is already running in another process or instance",
            conn.name
        );
    };
    let started = Instant::now();
    let mut report = RunReport::default();
    let result: anyhow::Result<()> = async {
        loop {
            if !held.renew().await? {
                anyhow::bail!(
                    "connector {} lost its lease to another process or instance; this run stops",
                    conn.name
                );
            }
            let ctx = app.company_context().await?;
            let checkpoint = app.store.checkpoint(&conn.name).await?.map(Checkpoint);
            let batch = source
                .pull(&ctx, checkpoint)
                .await
                .map_err(|e| anyhow::anyhow!("connector {}: {e}", conn.name))?;
            // Packages (the kind names the file family that opens them) are opened first and their documents
            // stored (idempotently); the package itself and the checkpoint that marks it done are stored last,
            // together: a crash in between downloads it again.
            if let Some(kind) = conn.of_kind {
                for d in &batch.deliveries {
                    if let Some(family) = kind.opened_by(d) {
                        expand_package(app, &conn.name, family, d).await?;
                    }
                }
            }
            let outcomes = app
                .store
                .ingest(
                    &conn.name,
                    &batch.deliveries,
                    Some((&conn.name, &batch.checkpoint.0)),
                )
                .await?;
            report.batches += 1;
            report.deliveries += batch.deliveries.len() as u64;
            report.new += outcomes
                .iter()
                .filter(|o| **o == crate::store::IngestOutcome::New)
                .count() as u64;
            metrics::counter!("cuadra_connector_records_total", "connector" => conn.name.clone())
                .increment(batch.deliveries.len() as u64);
            if !batch.more || report.batches > 10_000 {
                break;
            }
        }
        app.store.link_documents().await?;
        if report.new > 0 {
            app.after_import();
        }
        Ok(())
    }
    .await;
    held.release().await;
    let secs = started.elapsed().as_secs_f64();
    metrics::histogram!("cuadra_connector_run_duration_seconds", "connector" => conn.name.clone())
        .record(secs);
    let label = if result.is_ok() { "ok" } else { "error" };
    metrics::counter!("cuadra_connector_runs_total", "connector" => conn.name.clone(), "result" => label)
        .increment(1);
    if result.is_err() {
        metrics::counter!("cuadra_connector_errors_total", "connector" => conn.name.clone())
            .increment(1);
    }
    result.map(|_| report)
}

/// Stores every document inside a delivered package (the CFDI and metadata rows of a SAT package), read by the
/// importer of `family`.
async fn expand_package(
    app: &App,
    source: &str,
    family: &str,
    d: &cuadra_sdk::Delivery,
) -> anyhow::Result<()> {
    let Some(importer) = crate::registry::file_importer(&app.settings, family) else {
        anyhow::bail!(
            "connector {source}: its deliveries are opened by the {family} family, which this build does not have"
        );
    };
    let raw = d.raw.clone();
    let name = format!("package {}", d.external_id);
    let (docs, problems) = tokio::task::spawn_blocking(move || {
        let mut docs = Vec::new();
        let mut problems = Vec::new();
        let res = importer.read_bytes(
            &name,
            &raw,
            &cuadra_sdk::ImportOptions::default(),
            &mut |x| {
                docs.push(x);
                Ok(())
            },
            &mut |e| problems.push(e.to_string()),
        );
        if let Err(e) = res {
            problems.push(e.to_string());
        }
        (docs, problems)
    })
    .await?;
    for p in &problems {
        tracing::warn!(connector = source, problem = %p, "a package entry was skipped");
    }
    for chunk in docs.chunks(500) {
        app.store.ingest(source, chunk, None).await?;
    }
    Ok(())
}

/// Registers every scheduled source connector with the cron scheduler and runs until stopped.
pub async fn schedule(app: App, mut stop: watch::Receiver<bool>) {
    let scheduled: Vec<(Connector, String)> = app
        .connectors()
        .iter()
        .filter(|c| c.source.is_some())
        .filter_map(|c| {
            app.settings
                .connectors
                .get(&c.name)
                .and_then(|s| s.schedule.clone())
                .or_else(|| c.default_schedule.clone())
                .map(|s| (c.clone(), s))
        })
        .collect();
    if scheduled.is_empty() {
        let _ = stop.wait_for(|s| *s).await;
        return;
    }
    let mut sched = match JobScheduler::new().await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "the scheduler could not start");
            return;
        }
    };
    for (conn, cron) in scheduled {
        let app2 = app.clone();
        let name = conn.name.clone();
        let job = Job::new_async(
            crate::scheduler::to_six_fields(&cron).as_str(),
            move |_id, _l| {
                let app = app2.clone();
                let conn = conn.clone();
                Box::pin(async move {
                    match run_source_once(&app, &conn).await {
                        Ok(r) => {
                            tracing::info!(connector = %conn.name, deliveries = r.deliveries, new = r.new, "connector run finished")
                        }
                        Err(e) => {
                            tracing::error!(connector = %conn.name, error = %e, "connector run failed")
                        }
                    }
                })
            },
        );
        match job {
            Ok(j) => {
                if let Err(e) = sched.add(j).await {
                    tracing::error!(connector = %name, error = %e, "cannot schedule connector");
                }
            }
            Err(e) => tracing::error!(connector = %name, error = %e, "invalid schedule"),
        }
    }
    if let Err(e) = sched.start().await {
        tracing::error!(error = %e, "the scheduler could not start");
        return;
    }
    let _ = stop.wait_for(|s| *s).await;
    let _ = sched.shutdown().await;
}
