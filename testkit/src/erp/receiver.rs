//! `Receiver`: a generic HTTP endpoint that verifies Standard Webhooks signatures and records every delivery;
//! failures (status codes, 429 with `Retry-After`, slow answers) can be scripted.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cuadra_sdk::standard_webhooks::SigningKey;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

#[derive(Debug, Clone)]
pub enum ReceiverFailure {
    Status(u16),
    /// 429 with `Retry-After: secs`.
    RateLimited(u64),
    /// Answer normally after this delay (a client timeout when longer than its timeout).
    Delay(Duration),
}

/// One accepted delivery.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub body: Vec<u8>,
    pub json: serde_json::Value,
}

struct Inner {
    key: SigningKey,
    received: Vec<Received>,
    rejected: usize,
    script: VecDeque<ReceiverFailure>,
}

type Shared = Arc<Mutex<Inner>>;

fn lock(s: &Shared) -> MutexGuard<'_, Inner> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct Receiver {
    addr: SocketAddr,
    state: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    /// Starts a receiver verifying with `secret` (`whsec_…`).
    pub async fn start(secret: &str) -> std::io::Result<Receiver> {
        let key = SigningKey::parse(secret)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let state: Shared = Arc::new(Mutex::new(Inner {
            key,
            received: Vec::new(),
            rejected: 0,
            script: VecDeque::new(),
        }));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Receiver { addr, state, task })
    }

    /// The URL to configure as `events_url`.
    pub fn url(&self) -> String {
        format!("http://{}/events", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        lock(&self.state).received.clone()
    }

    /// Requests refused for a bad or missing signature.
    pub fn rejected(&self) -> usize {
        lock(&self.state).rejected
    }

    /// Scripted failures not yet met by a request: 0 once the last one has been served (or is being served).
    pub fn scripted_left(&self) -> usize {
        lock(&self.state).script.len()
    }

    pub fn fail_next(&self, n: usize, failure: ReceiverFailure) {
        let mut s = lock(&self.state);
        for _ in 0..n {
            s.script.push_back(failure.clone());
        }
    }
}

async fn handle(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let failure = lock(&state).script.pop_front();
    match failure {
        Some(ReceiverFailure::Status(c)) => {
            return StatusCode::from_u16(c)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
                .into_response()
        }
        Some(ReceiverFailure::RateLimited(secs)) => {
            let mut r = StatusCode::TOO_MANY_REQUESTS.into_response();
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                r.headers_mut().insert("retry-after", v);
            }
            return r;
        }
        Some(ReceiverFailure::Delay(d)) => tokio::time::sleep(d).await,
        None => {}
    }
    let hs: BTreeMap<String, String> = headers
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.as_str().to_ascii_lowercase(),
                v.to_str().ok()?.to_string(),
            ))
        })
        .collect();
    let mut s = lock(&state);
    let now = chrono::Utc::now().timestamp();
    if s.key.verify(&hs, &body, now, 300).is_err() {
        s.rejected += 1;
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    s.received.push(Received {
        id: hs.get("webhook-id").cloned().unwrap_or_default(),
        timestamp: hs.get("webhook-timestamp").cloned().unwrap_or_default(),
        body: body.to_vec(),
        json,
    });
    StatusCode::NO_CONTENT.into_response()
}
