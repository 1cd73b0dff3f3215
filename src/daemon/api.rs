//! The admin API under `/api/v1`: reports as JSON, manual match and unmatch, reconciliation, and the outbox.
//! Every request needs `Authorization: Bearer TOKEN` with a token from `http.api_tokens` (or `api_tokens_file`);
//! with none configured the API answers 401 to everything. OpenAPI document at `/api/v1/openapi.json`.

use crate::app::App;
use crate::output::{render, Format};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use secrecy::ExposeSecret;
use serde::Deserialize;

pub fn router(app: App) -> Router {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/reports/{report}", get(report))
        .route("/api/v1/match", post(manual_match))
        .route("/api/v1/unmatch", post(unmatch))
        .route("/api/v1/reconcile", post(reconcile))
        .route("/api/v1/outbox", get(outbox_list))
        .route("/api/v1/outbox/{id}/retry", post(outbox_retry))
        .route("/api/v1/outbox/{id}/drop", post(outbox_drop))
        .with_state(app)
}

fn authorized(app: &App, headers: &HeaderMap) -> bool {
    let Some(given) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let tokens = app.settings.api_tokens().unwrap_or_default();
    tokens
        .iter()
        .any(|t| constant_time_eq(t.expose_secret().as_bytes(), given.trim().as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn problem(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({"error": message.into()}))).into_response()
}

fn unauthorized() -> Response {
    problem(
        StatusCode::UNAUTHORIZED,
        "a bearer token from http.api_tokens is required",
    )
}

async fn openapi() -> Response {
    (
        [("content-type", "application/json")],
        include_str!("openapi.json"),
    )
        .into_response()
}

async fn report(State(app): State<App>, headers: HeaderMap, Path(name): Path<String>) -> Response {
    if !authorized(&app, &headers) {
        return unauthorized();
    }
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchLine {
    invoice: String,
    #[serde(default)]
    amount: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchBody {
    payment_id: i64,
    invoices: Vec<MatchLine>,
}

async fn manual_match(
    State(app): State<App>,
    headers: HeaderMap,
    body: Option<Json<MatchBody>>,
) -> Response {
    if !authorized(&app, &headers) {
        return unauthorized();
    }
    let Some(Json(body)) = body else {
        return problem(StatusCode::BAD_REQUEST, "expected {\"payment_id\": N, \"invoices\": [{\"invoice\": \"UUID or SERIE-FOLIO\", \"amount\": \"100.00\"}]}");
    };
    let mut lines = Vec::new();
    for l in &body.invoices {
        let amount = match &l.amount {
            None => None,
            Some(a) => match cuadra_sdk::parse_decimal(a)
                .ok()
                .and_then(|d| cuadra_sdk::to_micros(d).ok())
                .filter(|m| *m > 0)
            {
                Some(m) => Some(m),
                None => {
                    return problem(
                        StatusCode::BAD_REQUEST,
                        format!("invoices[].amount: {a:?} is not a positive decimal"),
                    )
                }
            },
        };
        match app.store.find_invoice_ref(&l.invoice).await {
            Ok(Some(id)) => lines.push((id, amount)),
            Ok(None) => {
                return problem(
                    StatusCode::NOT_FOUND,
                    format!("invoice {}: not found", l.invoice),
                )
            }
            Err(e) => return problem(StatusCode::BAD_REQUEST, format!("{e:#}")),
        }
    }
    match app.store.manual_match(body.payment_id, &lines, "api").await {
        Ok(m) => (StatusCode::CREATED, Json(m)).into_response(),
        Err(e) => problem(StatusCode::UNPROCESSABLE_ENTITY, format!("{e:#}")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnmatchBody {
    allocation_id: i64,
}

async fn unmatch(
    State(app): State<App>,
    headers: HeaderMap,
    body: Option<Json<UnmatchBody>>,
) -> Response {
    if !authorized(&app, &headers) {
        return unauthorized();
    }
    let Some(Json(body)) = body else {
        return problem(StatusCode::BAD_REQUEST, "expected {\"allocation_id\": N}");
    };
    match app.store.unmatch(body.allocation_id, "api").await {
        Ok(()) => Json(serde_json::json!({"removed": body.allocation_id})).into_response(),
        Err(e) => problem(StatusCode::UNPROCESSABLE_ENTITY, format!("{e:#}")),
    }
}

#[derive(Deserialize)]
struct ReconcileQuery {
    #[serde(default)]
    dry_run: bool,
}

async fn reconcile(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<ReconcileQuery>,
) -> Response {
    if !authorized(&app, &headers) {
        return unauthorized();
    }
    let options = match crate::reconcile::Options::from_settings(&app.settings) {
        Ok(o) => o,
        Err(e) => return problem(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
    };
    if !q.dry_run {
        if let Err(e) = app.store.link_documents().await {
            return problem(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"));
        }
    }
    match crate::reconcile::run(&app.store, &options, q.dry_run).await {
        Ok(s) => Json(s).into_response(),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
    }
}

#[derive(Deserialize)]
struct OutboxQuery {
    #[serde(default)]
    state: Option<String>,
}

async fn outbox_list(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<OutboxQuery>,
) -> Response {
    if !authorized(&app, &headers) {
        return unauthorized();
    }
    match app.store.outbox_list(q.state.as_deref()).await {
        Ok(rows) => Json(rows).into_response(),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
    }
}

async fn outbox_retry(State(app): State<App>, headers: HeaderMap, Path(id): Path<i64>) -> Response {
    if !authorized(&app, &headers) {
        return unauthorized();
    }
    match app.store.outbox_retry(id).await {
        Ok(true) => Json(serde_json::json!({"queued": id})).into_response(),
        Ok(false) => problem(
            StatusCode::NOT_FOUND,
            format!("no dead or pending outbox message {id}"),
        ),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
    }
}

async fn outbox_drop(State(app): State<App>, headers: HeaderMap, Path(id): Path<i64>) -> Response {
    if !authorized(&app, &headers) {
        return unauthorized();
    }
    match app.store.outbox_drop(id).await {
        Ok(true) => Json(serde_json::json!({"dropped": id})).into_response(),
        Ok(false) => problem(
            StatusCode::NOT_FOUND,
            format!("no dead or pending outbox message {id}"),
        ),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
    }
}
