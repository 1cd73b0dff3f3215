//! The HTTP side: health, readiness, metrics and webhooks. A webhook is verified before anything is stored, and
//! stored durably before the 2xx. Connections are served by [`conn`] (limits and timeouts).

mod conn;

use crate::app::App;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use cuadra_sdk::{WebhookError, WebhookRequest};
use std::collections::BTreeMap;
use tokio::sync::watch;

pub async fn serve(app: App, listener: tokio::net::TcpListener, stop: watch::Receiver<bool>) {
    let limit = app.settings.http.max_body_bytes;
    let settings = app.settings.http.clone();
    let router = router(app).layer(DefaultBodyLimit::max(limit));
    conn::serve(router, listener, &settings, stop).await;
}

/// What the handlers share: the application and the webhook intake writer.
#[derive(Clone)]
pub struct HttpState {
    app: App,
    intake: super::intake::Intake,
}

pub fn router(app: App) -> Router {
    let intake = super::intake::Intake::start(app.store.clone());
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/webhooks/{connector}", post(webhook))
        .with_state(HttpState {
            app: app.clone(),
            intake,
        })
        .merge(super::api::router(app))
}

async fn readyz(State(HttpState { app, .. }): State<HttpState>) -> Response {
    match app.store.ready().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n")).into_response(),
    }
}

async fn metrics() -> Response {
    (
        [("content-type", "text/plain; version=0.0.4")],
        crate::metrics::handle().render(),
    )
        .into_response()
}

async fn webhook(
    State(HttpState { app, intake }): State<HttpState>,
    Path(name): Path<String>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    // A body over `http.max_body_bytes` is answered 413 here, so that it is counted like any other answer.
    let status = match body {
        Ok(body) => {
            handle_webhook(
                &app,
                &intake,
                &name,
                peer,
                query.as_deref(),
                &headers,
                &body,
            )
            .await
        }
        Err(rejection) => rejection.into_response(),
    };
    let code = status.status().as_u16().to_string();
    let label = if app.connector(&name).is_some() {
        name
    } else {
        "unknown".into()
    };
    metrics::counter!("cuadra_webhook_requests_total", "connector" => label, "status" => code)
        .increment(1);
    status
}

async fn handle_webhook(
    app: &App,
    intake: &super::intake::Intake,
    name: &str,
    peer: std::net::SocketAddr,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let Some(handler) = app.connector(name).and_then(|c| c.webhook.clone()) else {
        return (StatusCode::NOT_FOUND, "unknown webhook connector\n").into_response();
    };
    let headers: BTreeMap<String, String> = headers
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.as_str().to_ascii_lowercase(),
                v.to_str().ok()?.to_string(),
            ))
        })
        .collect();
    // The peer address comes from the socket and the query from the URL, never from headers a client sets.
    let req = WebhookRequest {
        headers: &headers,
        body,
        received_at: app.store.now(),
        peer: Some(peer.ip()),
        query,
    };
    let verified = match handler.verify(&req) {
        Ok(v) => v,
        Err(e) => return webhook_error(name, e),
    };
    let ctx = match app.company_context().await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(connector = name, error = %e, "cannot read the company context");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let outcome = match handler.handle(&ctx, &verified).await {
        Ok(o) => o,
        // Verified but not understood (a bad currency, a missing field): kept for a person, then 400.
        Err(WebhookError::Malformed(why)) => {
            return reject(app, name, name, body, &why).await;
        }
        Err(e) => return webhook_error(name, e),
    };
    if let Some(d) = outcome.delivery {
        // A verified event whose amount the ledger cannot hold is the sender's problem, not a transient one:
        // kept for a person, then 400 with the reason, so the provider stops retrying.
        if let Some(why) = crate::store::unstorable_amount(&d) {
            return reject(app, name, &d.external_id, body, &why).await;
        }
        if let Err(e) = intake.submit(name, d).await {
            tracing::error!(connector = name, error = %e, "a verified webhook could not be stored");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        app.after_import();
    }
    let status = StatusCode::from_u16(outcome.status).unwrap_or(StatusCode::OK);
    let mut resp = (status, outcome.body).into_response();
    if let Some(ct) = outcome.content_type.and_then(|c| c.parse().ok()) {
        resp.headers_mut().insert("content-type", ct);
    }
    resp
}

/// Answers 400 with the reason to a verified delivery that cannot be stored, after keeping its body and the
/// reason as a `rejected` row of `report conflicts` (503 when even that cannot be written, so the provider retries).
async fn reject(app: &App, name: &str, external_id: &str, body: &[u8], why: &str) -> Response {
    match app
        .store
        .record_rejected(name, external_id, body, why)
        .await
    {
        Ok(raw_id) => {
            tracing::warn!(connector = name, event = %external_id, raw_id, reason = %why, "webhook refused and kept for a person");
            (StatusCode::BAD_REQUEST, format!("refused: {why}\n")).into_response()
        }
        Err(e) => {
            tracing::error!(connector = name, error = %format!("{e:#}"), "a refused webhook could not be kept");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

fn webhook_error(name: &str, e: WebhookError) -> Response {
    let (code, msg) = match &e {
        WebhookError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized\n"),
        WebhookError::Malformed(_) => (StatusCode::BAD_REQUEST, "malformed\n"),
        WebhookError::Retryable(_) => (StatusCode::SERVICE_UNAVAILABLE, "try again later\n"),
    };
    tracing::warn!(connector = name, error = %e, "webhook refused");
    (code, msg).into_response()
}
