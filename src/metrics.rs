//! Prometheus metrics: one global recorder, rendered at `/metrics`. Names follow
//! `cuadra_<subsystem>_<name>_<unit>[_total]`; labels are configured names only.

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

fn describe() {
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
    metrics::describe_counter!("cuadra_inbox_files_total", "Inbox files handled, by result");
    metrics::describe_counter!(
        "cuadra_webhook_requests_total",
        "Webhook requests, by connector and status"
    );
}
