//! `HttpSink`: each outbox message is POSTed to `events_url` as `{"id","type","timestamp","data"}`, signed per
//! Standard Webhooks. The body is the same on every retry (its `timestamp` is when the event was created);
//! `webhook-id` is the idempotency key; `webhook-timestamp` is the time of this attempt.

use crate::net::{self, Failure, RateLimiter};
use async_trait::async_trait;
use chrono::SecondsFormat;
use cuadra_sdk::standard_webhooks::{SigningKey, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use cuadra_sdk::{OutboundMessage, Receipt, Sink, SinkError};
use serde::Serialize;

/// Posts signed events to one URL.
pub struct HttpSink {
    url: String,
    key: SigningKey,
    client: reqwest::Client,
    limiter: RateLimiter,
}

impl std::fmt::Debug for HttpSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSink")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Event<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
    timestamp: String,
    data: &'a serde_json::Value,
}

/// The exact body sent for a message.
pub fn event_body(msg: &OutboundMessage) -> Result<Vec<u8>, SinkError> {
    serde_json::to_vec(&Event {
        id: msg.key.as_str(),
        event_type: &msg.event_type,
        timestamp: msg.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        data: &msg.payload,
    })
    .map_err(|e| SinkError::Permanent(format!("event {}: cannot serialize: {e}", msg.key)))
}

impl HttpSink {
    pub fn new(
        url: String,
        key: SigningKey,
        timeout_secs: u64,
        rate_per_sec: Option<f64>,
    ) -> Result<HttpSink, String> {
        Ok(HttpSink {
            url,
            key,
            client: net::client(timeout_secs)?,
            limiter: RateLimiter::new(rate_per_sec)?,
        })
    }
}

#[async_trait]
impl Sink for HttpSink {
    #[tracing::instrument(skip_all, fields(connector = "http", event_type = %msg.event_type, attempt = msg.attempt))]
    async fn deliver(&self, msg: &OutboundMessage) -> Result<Receipt, SinkError> {
        let body = event_body(msg)?;
        let ts = chrono::Utc::now().timestamp();
        let signature = self.key.sign(msg.key.as_str(), ts, &body);
        self.limiter.acquire().await;
        let what = format!("POST event {}", msg.key);
        let resp = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(HEADER_ID, msg.key.as_str())
            .header(HEADER_TIMESTAMP, ts.to_string())
            .header(HEADER_SIGNATURE, signature)
            .body(body)
            .send()
            .await
            .map_err(|e| SinkError::from(Failure::from_reqwest(&e, &what)))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(Receipt::default());
        }
        Err(Failure::from_status(status, resp.headers(), &what).into())
    }
}
