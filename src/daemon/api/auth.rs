//! The admin API's gate: one layer in front of every guarded `/api/v1` route lets a request through only with
//! `Authorization: Bearer TOKEN` naming one of `http.api_tokens` (or `api_tokens_file`, read on each request so a
//! changed file takes effect at once); otherwise it answers 401 with a problem body, before any handler or
//! extractor runs.

use super::problem;
use crate::app::App;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use secrecy::ExposeSecret;

/// The layer's function (`axum::middleware::from_fn_with_state`).
pub(super) async fn require_token(
    State(app): State<App>,
    request: Request,
    next: Next,
) -> Response {
    if authorized(&app, request.headers()) {
        next.run(request).await
    } else {
        unauthorized()
    }
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
    tokens.iter().any(|t| {
        cuadra_sdk::constant_time_eq(t.expose_secret().as_bytes(), given.trim().as_bytes())
    })
}

fn unauthorized() -> Response {
    problem(
        StatusCode::UNAUTHORIZED,
        "a bearer token from http.api_tokens is required",
    )
}
