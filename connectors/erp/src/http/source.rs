//! `HttpSource`: pulls `pull_url` page by page. The request carries `?cursor=C` while the server hands out
//! cursors, else `?updated_since=T` (RFC 3339) from the previous complete run, else nothing (first run). The
//! checkpoint ([`HttpCheckpoint`]) holds the cursor and the latest `updated_at` seen; when the last page is read
//! the latest `updated_at` becomes the next run's `updated_since`.

use super::shape;
use crate::net::{self, Failure, RateLimiter};
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use cuadra_sdk::{Batch, Checkpoint, CompanyContext, ConnectorError, Source};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Largest page body accepted, in bytes.
pub const MAX_PAGE_BYTES: usize = 32 * 1024 * 1024;

/// The checkpoint of an HTTP pull.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpCheckpoint {
    /// The next page's cursor while a run is in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// What the current run asks for (`updated_since`), kept while paging by cursor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_since: Option<DateTime<Utc>>,
    /// The latest `updated_at` seen in the current run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_until: Option<DateTime<Utc>>,
}

pub struct HttpSource {
    url: String,
    token: Option<SecretString>,
    client: reqwest::Client,
    limiter: RateLimiter,
}

impl std::fmt::Debug for HttpSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSource")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl HttpSource {
    pub fn new(
        url: String,
        token: Option<SecretString>,
        timeout_secs: u64,
        rate_per_sec: Option<f64>,
    ) -> Result<HttpSource, String> {
        Ok(HttpSource {
            url,
            token,
            client: net::client(timeout_secs)?,
            limiter: RateLimiter::new(rate_per_sec)?,
        })
    }

    async fn fetch(&self, cp: &HttpCheckpoint) -> Result<Vec<u8>, ConnectorError> {
        let mut req = self.client.get(&self.url);
        if let Some(c) = &cp.cursor {
            req = req.query(&[("cursor", c.as_str())]);
        } else if let Some(t) = cp.updated_since {
            req = req.query(&[(
                "updated_since",
                t.to_rfc3339_opts(SecondsFormat::Secs, true),
            )]);
        }
        if let Some(t) = &self.token {
            req = req.bearer_auth(t.expose_secret());
        }
        self.limiter.acquire().await;
        let what = "GET pull_url";
        let resp = req
            .send()
            .await
            .map_err(|e| ConnectorError::from(Failure::from_reqwest(&e, what)))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(Failure::from_status(status, resp.headers(), what).into());
        }
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_PAGE_BYTES as u64)
        {
            return Err(ConnectorError::Permanent(format!(
                "{what}: page larger than {MAX_PAGE_BYTES} bytes"
            )));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| ConnectorError::from(Failure::from_reqwest(&e, what)))?;
        if body.len() > MAX_PAGE_BYTES {
            return Err(ConnectorError::Permanent(format!(
                "{what}: page larger than {MAX_PAGE_BYTES} bytes"
            )));
        }
        Ok(body.to_vec())
    }
}

/// Reads a stored checkpoint; an unreadable one is a configuration problem the operator must see.
pub fn read_checkpoint(cp: Option<Checkpoint>) -> Result<HttpCheckpoint, ConnectorError> {
    match cp {
        None => Ok(HttpCheckpoint::default()),
        Some(Checkpoint(serde_json::Value::Null)) => Ok(HttpCheckpoint::default()),
        Some(Checkpoint(v)) => serde_json::from_value(v).map_err(|e| {
            ConnectorError::Config(format!(
                "stored checkpoint is not an HTTP pull checkpoint: {e}"
            ))
        }),
    }
}

#[async_trait]
impl Source for HttpSource {
    #[tracing::instrument(skip_all, fields(connector = "http"))]
    async fn pull(
        &self,
        _ctx: &CompanyContext,
        checkpoint: Option<Checkpoint>,
    ) -> Result<Batch, ConnectorError> {
        let cp = read_checkpoint(checkpoint)?;
        let body = self.fetch(&cp).await?;
        // A page that is not the documented JSON will not get better by asking again.
        let page = shape::map_page(&body)
            .map_err(|e| ConnectorError::Permanent(format!("GET pull_url: {e}")))?;
        for p in &page.problems {
            tracing::warn!("pull_url entry skipped: {p}");
        }
        let seen_until = cp.seen_until.max(page.max_updated_at);
        let (next, more) = match page.next_cursor {
            Some(c) if Some(&c) != cp.cursor.as_ref() => (
                HttpCheckpoint {
                    cursor: Some(c),
                    updated_since: cp.updated_since,
                    seen_until,
                },
                true,
            ),
            _ => (
                HttpCheckpoint {
                    cursor: None,
                    updated_since: seen_until.or(cp.updated_since),
                    seen_until: None,
                },
                false,
            ),
        };
        let value = serde_json::to_value(&next)
            .map_err(|e| ConnectorError::Permanent(format!("checkpoint: {e}")))?;
        Ok(Batch {
            deliveries: page.deliveries,
            checkpoint: Checkpoint(value),
            more,
        })
    }
}
