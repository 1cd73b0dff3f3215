//! The admin API's gate: one layer in front of every guarded `/api/v1` route, before any handler or extractor
//! (so an unauthenticated caller never sees a body validated). A request passes with `Authorization: Bearer TOKEN`
//! naming one of `http.api_tokens` / `api_tokens_file` (read on each request, so a changed file takes effect at
//! once) whose scope covers the route; the token's name travels on as the audit actor ([`Actor`]). Otherwise: 401
//! (no or unknown token) or 403 (scope too small), logged without the token and counted in
//! `cuadra_api_auth_failures_total{reason}`. A peer with [`MAX_FAILURES`] failures within [`WINDOW`] gets 429 with
//! `Retry-After` until the window ends, whatever it sends.

use super::problem;
use crate::app::App;
use crate::config::{ApiScope, ApiToken};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use secrecy::ExposeSecret;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Failures from one peer within [`WINDOW`] before it is answered 429.
pub const MAX_FAILURES: u32 = 10;
/// The window failures are counted in.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Peers remembered at most; past it the oldest window is forgotten.
const MAX_PEERS: usize = 10_000;

/// The name of the token a request came with; handlers pass it to the use cases as the audit actor.
#[derive(Clone, Debug)]
pub(super) struct Actor(pub String);

/// The state of one layer: the app, the scope its routes need, the failures shared by all layers.
#[derive(Clone)]
pub(super) struct Gate {
    pub app: App,
    pub scope: ApiScope,
    pub failures: Failures,
}

/// Recent failures per peer: (start of the window, failures in it).
#[derive(Clone, Default)]
pub(super) struct Failures(Arc<Mutex<HashMap<IpAddr, (Instant, u32)>>>);

impl Failures {
    /// When the peer is backed off, the seconds until it may try again.
    fn blocked(&self, peer: IpAddr, now: Instant) -> Option<u64> {
        let map = self.0.lock().expect("auth failures");
        let (start, n) = *map.get(&peer)?;
        let end = start + WINDOW;
        (n >= MAX_FAILURES && now < end).then(|| (end - now).as_secs().max(1))
    }

    fn record(&self, peer: IpAddr, now: Instant) {
        let mut map = self.0.lock().expect("auth failures");
        if map.len() >= MAX_PEERS && !map.contains_key(&peer) {
            map.retain(|_, (start, _)| now < *start + WINDOW);
            if map.len() >= MAX_PEERS {
                if let Some(oldest) = map.iter().min_by_key(|(_, (s, _))| *s).map(|(k, _)| *k) {
                    map.remove(&oldest);
                }
            }
        }
        let entry = map.entry(peer).or_insert((now, 0));
        if now >= entry.0 + WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }
}

/// The layer's function (`axum::middleware::from_fn_with_state`).
pub(super) async fn require_token(
    State(gate): State<Gate>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let now = Instant::now();
    if let Some(secs) = gate.failures.blocked(peer, now) {
        let mut resp = problem(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed attempts from this address; try again later",
        );
        resp.headers_mut()
            .insert("retry-after", HeaderValue::from(secs));
        return resp;
    }
    let tokens = gate.app.settings.api_tokens().unwrap_or_else(|e| {
        tracing::error!(error = %format!("{e:#}"), "the admin API tokens cannot be read; every request is refused");
        vec![]
    });
    let failure = match find(&tokens, request.headers()) {
        Some(t) if t.scope >= gate.scope => {
            request.extensions_mut().insert(Actor(t.name.clone()));
            return next.run(request).await;
        }
        Some(t) => ("scope", Some(t.name.clone())),
        None if request.headers().contains_key("authorization") => ("unknown_token", None),
        None => ("missing_token", None),
    };
    gate.failures.record(peer, now);
    metrics::counter!("cuadra_api_auth_failures_total", "reason" => failure.0).increment(1);
    tracing::warn!(
        %peer,
        path = request.uri().path(),
        reason = failure.0,
        token = failure.1.as_deref().unwrap_or("-"),
        "an admin API request was refused"
    );
    match failure.1 {
        Some(name) => problem(
            StatusCode::FORBIDDEN,
            format!(
                "token {name} lacks the {} scope this route needs",
                gate.scope.as_str()
            ),
        ),
        None => problem(
            StatusCode::UNAUTHORIZED,
            "a bearer token from http.api_tokens is required",
        ),
    }
}

fn find<'a>(tokens: &'a [ApiToken], headers: &HeaderMap) -> Option<&'a ApiToken> {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))?
        .trim();
    tokens.iter().find(|t| {
        cuadra_sdk::constant_time_eq(t.secret.expose_secret().as_bytes(), given.as_bytes())
    })
}
