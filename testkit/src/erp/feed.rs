//! `ErpFeed`: a pull endpoint (`GET /feed`) serving customers and invoices in the documented shape, `page_size`
//! entries per page, with `?cursor=` (an offset) and `?updated_since=` (entries whose `updated_at` is later).

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

struct Inner {
    page_size: usize,
    customers: Vec<Value>,
    invoices: Vec<Value>,
    requests: Vec<HashMap<String, String>>,
}

type Shared = Arc<Mutex<Inner>>;

fn lock(s: &Shared) -> MutexGuard<'_, Inner> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct ErpFeed {
    addr: SocketAddr,
    state: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ErpFeed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ErpFeed {
    pub async fn start(page_size: usize) -> std::io::Result<ErpFeed> {
        let state: Shared = Arc::new(Mutex::new(Inner {
            page_size: page_size.max(1),
            customers: Vec::new(),
            invoices: Vec::new(),
            requests: Vec::new(),
        }));
        let app = axum::Router::new()
            .route("/feed", axum::routing::get(handle))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(ErpFeed { addr, state, task })
    }

    pub fn url(&self) -> String {
        format!("http://{}/feed", self.addr)
    }

    /// Adds a customer object (must carry `updated_at` to take part in `updated_since`).
    pub fn push_customer(&self, v: Value) {
        lock(&self.state).customers.push(v);
    }

    pub fn push_invoice(&self, v: Value) {
        lock(&self.state).invoices.push(v);
    }

    /// The query parameters of every request so far.
    pub fn requests(&self) -> Vec<HashMap<String, String>> {
        lock(&self.state).requests.clone()
    }
}

async fn handle(State(state): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut s = lock(&state);
    s.requests.push(q.clone());
    let since = q
        .get("updated_since")
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    let newer = |v: &Value| match since {
        None => true,
        Some(t) => v
            .get("updated_at")
            .and_then(Value::as_str)
            .and_then(|u| chrono::DateTime::parse_from_rfc3339(u).ok())
            .is_some_and(|u| u > t),
    };
    let all: Vec<(bool, Value)> = s
        .customers
        .iter()
        .filter(|v| newer(v))
        .map(|v| (true, v.clone()))
        .chain(
            s.invoices
                .iter()
                .filter(|v| newer(v))
                .map(|v| (false, v.clone())),
        )
        .collect();
    let offset: usize = q.get("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
    let page: Vec<&(bool, Value)> = all.iter().skip(offset).take(s.page_size).collect();
    let end = offset + page.len();
    let next = if end < all.len() {
        json!(end.to_string())
    } else {
        Value::Null
    };
    let customers: Vec<&Value> = page.iter().filter(|(c, _)| *c).map(|(_, v)| v).collect();
    let invoices: Vec<&Value> = page.iter().filter(|(c, _)| !*c).map(|(_, v)| v).collect();
    axum::Json(json!({"customers": customers, "invoices": invoices, "next_cursor": next}))
        .into_response()
}
