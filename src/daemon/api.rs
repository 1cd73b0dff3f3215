//! The admin API under `/api/v1`: reports as JSON, manual match and unmatch, reconciliation, and the outbox.
//! Every request needs `Authorization: Bearer TOKEN` with a token from `http.api_tokens` (or `api_tokens_file`)
//! whose scope covers the route (read: reports and lists; write: match, unmatch, reconcile; admin: outbox retry
//! and drop), checked by one layer in front of the routes ([`auth`]); with none configured the API answers 401.
//! The OpenAPI document at `/api/v1/openapi.json` is public. Handlers turn JSON into the use cases on [`App`] (the
//! CLI runs the same ones) and their results into status codes and JSON.

mod auth;

use crate::app::{App, MatchError, MatchRequest};
use crate::config::ApiScope;
use crate::output::{render, Format};
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use serde::Deserialize;

pub fn router(app: App) -> Router {
    let failures = auth::Failures::default();
    // One gate per scope, in front of its routes only (an unknown path stays 404).
    let gate = |scope| {
        middleware::from_fn_with_state(
            auth::Gate {
                app: app.clone(),
                scope,
                failures: failures.clone(),
            },
            auth::require_token,
        )
    };
    let read = Router::new()
        .route("/api/v1/reports/{report}", get(report))
        .route("/api/v1/outbox", get(outbox_list))
        .route_layer(gate(ApiScope::Read));
    let write = Router::new()
        .route("/api/v1/match", post(manual_match))
        .route("/api/v1/unmatch", post(unmatch))
        .route("/api/v1/reconcile", post(reconcile))
        .route_layer(gate(ApiScope::Write));
    let admin = Router::new()
        .route("/api/v1/outbox/{id}/retry", post(outbox_retry))
        .route("/api/v1/outbox/{id}/drop", post(outbox_drop))
        .route_layer(gate(ApiScope::Admin));
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .merge(read)
        .merge(write)
        .merge(admin)
        .with_state(app)
}

fn problem(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({"error": message.into()}))).into_response()
}

async fn openapi() -> Response {
    (
        [("content-type", "application/json")],
        include_str!("openapi.json"),
    )
        .into_response()
}

async fn report(State(app): State<App>, Path(name): Path<String>) -> Response {
    let table = match name.as_str() {
        "customers" => app.store.report_customers().await,
        "invoices" => app.store.report_invoices().await,
        "payments" => app.store.report_payments().await,
        "allocations" => app.store.report_allocations().await,
        "exceptions" => app.store.report_exceptions().await,
        "conflicts" => app.store.report_conflicts().await,
        _ => return problem(StatusCode::NOT_FOUND, format!("no report {name}")),
    };
    match table.and_then(|t| render(&t, Format::Json)) {
        Ok(body) => ([("content-type", "application/json")], body).into_response(),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
    }
}

async fn manual_match(
    State(app): State<App>,
    Extension(auth::Actor(actor)): Extension<auth::Actor>,
    body: Option<Json<MatchRequest>>,
) -> Response {
    let Some(Json(body)) = body else {
        return problem(StatusCode::BAD_REQUEST, "expected {\"payment_id\": N, \"invoices\": [{\"invoice\": \"UUID or SERIE-FOLIO\", \"amount\": \"100.00\"}]}");
    };
    match app.manual_match(&body, &actor).await {
        Ok(m) => (StatusCode::CREATED, Json(m)).into_response(),
        Err(MatchError::Amount { amount, .. }) => problem(
            StatusCode::BAD_REQUEST,
            format!("invoices[].amount: {amount:?} is not a positive decimal"),
        ),
        Err(MatchError::InvoiceNotFound { invoice, .. }) => problem(
            StatusCode::NOT_FOUND,
            format!("invoice {invoice}: not found"),
        ),
        Err(MatchError::Lookup(e)) => problem(StatusCode::BAD_REQUEST, format!("{e:#}")),
        Err(MatchError::Refused(e)) => problem(StatusCode::UNPROCESSABLE_ENTITY, format!("{e:#}")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnmatchBody {
    allocation_id: i64,
}

async fn unmatch(
    State(app): State<App>,
    Extension(auth::Actor(actor)): Extension<auth::Actor>,
    body: Option<Json<UnmatchBody>>,
) -> Response {
    let Some(Json(body)) = body else {
        return problem(StatusCode::BAD_REQUEST, "expected {\"allocation_id\": N}");
    };
    match app.unmatch(body.allocation_id, &actor).await {
        Ok(()) => Json(serde_json::json!({"removed": body.allocation_id})).into_response(),
        Err(e) => problem(StatusCode::UNPROCESSABLE_ENTITY, format!("{e:#}")),
    }
}

#[derive(Deserialize)]
struct ReconcileQuery {
    #[serde(default)]
    dry_run: bool,
}

async fn reconcile(State(app): State<App>, Query(q): Query<ReconcileQuery>) -> Response {
    match app.reconcile(q.dry_run).await {
        Ok(s) => Json(s).into_response(),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
    }
}

#[derive(Deserialize)]
struct OutboxQuery {
    #[serde(default)]
    state: Option<String>,
}

async fn outbox_list(State(app): State<App>, Query(q): Query<OutboxQuery>) -> Response {
    match app.store.outbox_list(q.state.as_deref()).await {
        Ok(rows) => Json(rows).into_response(),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
    }
}

async fn outbox_retry(State(app): State<App>, Path(id): Path<i64>) -> Response {
    match app.store.outbox_retry(id).await {
        Ok(true) => Json(serde_json::json!({"queued": id})).into_response(),
        Ok(false) => problem(
            StatusCode::NOT_FOUND,
            format!("no dead or pending outbox message {id}"),
        ),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
    }
}

async fn outbox_drop(State(app): State<App>, Path(id): Path<i64>) -> Response {
    match app.store.outbox_drop(id).await {
        Ok(true) => Json(serde_json::json!({"dropped": id})).into_response(),
        Ok(false) => problem(
            StatusCode::NOT_FOUND,
            format!("no dead or pending outbox message {id}"),
        ),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
    }
}
