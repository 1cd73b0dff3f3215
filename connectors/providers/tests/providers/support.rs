//! Helpers shared by the test modules: requests, contexts, settings, a fake provider API over real HTTP, and the
//! location of the shared fixture corpus.

use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use cuadra_providers::{build, ProviderSettings};
use cuadra_sdk::{
    CompanyContext, Delivery, PaymentRecord, Record, WebhookError, WebhookHandler, WebhookOutcome,
    WebhookRequest,
};
use secrecy::SecretString;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).expect("test instant in range")
}

pub fn headers(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect()
}

pub fn ctx(accounts: &[&str]) -> CompanyContext {
    CompanyContext {
        rfcs: vec!["EKU9003173C9".into()],
        own_accounts: accounts
            .iter()
            .map(|s| s.to_string())
            .collect::<HashSet<_>>(),
        now: at(1_768_494_000),
    }
}

pub fn settings(kind: &str) -> ProviderSettings {
    ProviderSettings {
        kind: Some(kind.into()),
        ..ProviderSettings::default()
    }
}

pub fn secret(s: &str) -> Option<SecretString> {
    Some(SecretString::from(s))
}

pub fn handler(kind: &str, s: &ProviderSettings) -> Box<dyn WebhookHandler> {
    match build(kind, s) {
        Ok(h) => h,
        Err(e) => panic!("building {kind}: {e}"),
    }
}

/// Verifies then handles, as the daemon does.
pub async fn deliver(
    h: &dyn WebhookHandler,
    ctx: &CompanyContext,
    headers: &BTreeMap<String, String>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<WebhookOutcome, WebhookError> {
    let req = WebhookRequest::new(headers, body, now);
    let verified = h.verify(&req)?;
    h.handle(ctx, &verified).await
}

pub fn verify_only(
    h: &dyn WebhookHandler,
    headers: &BTreeMap<String, String>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), WebhookError> {
    verify_with(h, headers, body, now, None, None)
}

/// Verifies with the socket's peer address and the URL's query string, as the daemon passes them.
pub fn verify_with(
    h: &dyn WebhookHandler,
    headers: &BTreeMap<String, String>,
    body: &[u8],
    now: DateTime<Utc>,
    peer: Option<&str>,
    query: Option<&str>,
) -> Result<(), WebhookError> {
    let req = WebhookRequest {
        peer: peer.map(|p| p.parse().expect("an IP address")),
        query,
        ..WebhookRequest::new(headers, body, now)
    };
    h.verify(&req).map(|_| ())
}

pub fn payments(d: &Delivery) -> Vec<PaymentRecord> {
    d.records
        .iter()
        .filter_map(|r| match r {
            Record::Payment(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

pub fn unauthorized<T: std::fmt::Debug>(r: Result<T, WebhookError>) {
    assert!(
        matches!(r, Err(WebhookError::Unauthorized(_))),
        "expected Unauthorized, got {r:?}"
    );
}

/// `shared/fixtures/bank/webhooks`, or `None` (with a note) when the shared corpus is absent.
pub fn shared_webhooks() -> Option<PathBuf> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/bank/webhooks");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipping: shared fixture corpus not found at {}",
            dir.display()
        );
        None
    }
}

pub fn own_fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// One canned answer of the fake API: status and body.
#[derive(Clone)]
pub struct Canned {
    pub status: u16,
    pub body: Vec<u8>,
}

/// A fake provider API on 127.0.0.1:0 answering `GET <path>` with canned bodies and recording the
/// `Authorization` header of each request.
pub struct FakeApi {
    pub base: String,
    pub seen_auth: Arc<Mutex<Vec<(String, String)>>>,
    _task: tokio::task::JoinHandle<()>,
}

pub async fn fake_api(routes: Vec<(String, Canned)>) -> FakeApi {
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let mut app = Router::new();
    for (path, canned) in routes {
        let seen = seen.clone();
        let p = path.clone();
        app = app.route(
            &path,
            get(move |h: HeaderMap| {
                let seen = seen.clone();
                let canned = canned.clone();
                let p = p.clone();
                async move {
                    let auth = h
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    seen.lock().expect("lock").push((p, auth));
                    (
                        StatusCode::from_u16(canned.status).expect("status"),
                        [("content-type", "application/json")],
                        canned.body,
                    )
                }
            }),
        );
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    FakeApi {
        base: format!("http://{addr}"),
        seen_auth: seen,
        _task: task,
    }
}
