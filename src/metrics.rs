//! Prometheus metrics: one global recorder, rendered at `/metrics`. Names follow
//! `cuadra_<subsystem>_<name>_<unit>[_total]`; labels are configured names only.

use crate::registry::Connector;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the recorder on first use and returns the handle that renders it.
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed by an embedding program; rendering still works for ours.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            handle
        })
        .clone()
}

/// Registers every series the daemon will write, counters at 0, so a fresh daemon's `/metrics` lists them all
/// (Prometheus alerts on `rate()` need the series before the first event), plus `cuadra_build_info`. Adding 0
/// leaves a series that already counts untouched, so starting twice in one process is harmless.
pub fn register(connectors: &[Connector]) {
    let _ = handle();
    metrics::gauge!("cuadra_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    metrics::gauge!("cuadra_outbox_depth").increment(0.0);
    metrics::gauge!("cuadra_outbox_oldest_age_seconds").increment(0.0);
    for result in ["done", "failed", "retry"] {
        metrics::counter!("cuadra_inbox_files_total", "result" => result).increment(0);
    }
    for c in connectors {
        let name = c.name.clone();
        if c.source.is_some() {
            for result in ["ok", "error"] {
                metrics::counter!("cuadra_connector_runs_total", "connector" => name.clone(), "result" => result)
                    .increment(0);
            }
            metrics::counter!("cuadra_connector_records_total", "connector" => name.clone())
                .increment(0);
            metrics::counter!("cuadra_connector_errors_total", "connector" => name.clone())
                .increment(0);
            // Registering the histogram is enough for it to render with a count of 0.
            let _ = metrics::histogram!("cuadra_connector_run_duration_seconds", "connector" => name.clone());
        }
        if c.webhook.is_some() {
            metrics::counter!("cuadra_webhook_requests_total", "connector" => name.clone(), "status" => "200")
                .increment(0);
        }
        if c.sink.is_some() {
            for result in ["delivered", "retry", "dead"] {
                metrics::counter!("cuadra_outbox_deliveries_total", "connector" => name.clone(), "result" => result)
                    .increment(0);
            }
            metrics::counter!("cuadra_outbox_breaker_opened_total", "connector" => name.clone())
                .increment(0);
        }
    }
}

fn describe() {
    metrics::describe_gauge!(
        "cuadra_build_info",
        "Always 1; the version label says which build is running"
    );
    metrics::describe_gauge!(
        "cuadra_outbox_depth",
        "Outbox messages waiting for delivery"
    );
    metrics::describe_gauge!(
        "cuadra_outbox_oldest_age_seconds",
        "Age of the oldest outbox message waiting for delivery"
    );
    metrics::describe_counter!(
        "cuadra_outbox_deliveries_total",
        "Outbox delivery attempts, by connector and result (delivered, retry, dead)"
    );
    metrics::describe_counter!(
        "cuadra_outbox_breaker_opened_total",
        "Times a sink's circuit breaker opened"
    );
    metrics::describe_counter!(
        "cuadra_connector_runs_total",
        "Connector runs, by connector and result"
    );
    metrics::describe_histogram!(
        "cuadra_connector_run_duration_seconds",
        "Connector run durations"
    );
    metrics::describe_counter!(
        "cuadra_connector_records_total",
        "Deliveries stored by connector runs"
    );
    metrics::describe_counter!("cuadra_connector_errors_total", "Failed connector runs");
    metrics::describe_counter!(
        "cuadra_import_deliveries_total",
        "Deliveries read by imports"
    );
    metrics::describe_counter!(
        "cuadra_inbox_files_total",
        "Inbox files handled, by result (done, failed, retry)"
    );
    metrics::describe_counter!(
        "cuadra_webhook_requests_total",
        "Webhook requests, by connector and HTTP status (413 included)"
    );
}
