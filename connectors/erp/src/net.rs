//! Shared HTTP plumbing: the reqwest client, a per-connector rate limiter, and the classification of HTTP
//! statuses and transport failures into SDK errors (the daemon alone decides when to retry).

use cuadra_sdk::{ConnectorError, SinkError};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Longest `Retry-After` we pass on, so a hostile or broken server cannot park a connector for days.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

pub fn client(timeout_secs: u64) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(timeout_secs.max(1)))
        .connect_timeout(Duration::from_secs(timeout_secs.clamp(1, 10)))
        .user_agent(concat!("cuadra/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// Spaces requests at least `1 / rate_per_sec` apart.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Option<Duration>,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    pub fn new(rate_per_sec: Option<f64>) -> Result<RateLimiter, String> {
        let interval = match rate_per_sec {
            None => None,
            Some(r) if r.is_finite() && r > 0.0 => Some(Duration::from_secs_f64(1.0 / r)),
            Some(_) => return Err("rate_per_sec: expected a positive number".into()),
        };
        Ok(RateLimiter {
            interval,
            next: Mutex::new(None),
        })
    }

    pub async fn acquire(&self) {
        let Some(interval) = self.interval else {
            return;
        };
        let wait_until = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = match *next {
                Some(t) if t > now => t,
                _ => now,
            };
            *next = Some(slot + interval);
            slot
        };
        tokio::time::sleep_until(wait_until).await;
    }
}

/// Parses `Retry-After` (seconds, or an HTTP date), clamped to [`MAX_RETRY_AFTER`].
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let d = if let Ok(secs) = v.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
        let secs = (at.timestamp() - chrono::Utc::now().timestamp()).max(0);
        Duration::from_secs(secs.unsigned_abs())
    };
    Some(d.min(MAX_RETRY_AFTER))
}

/// Classification of a failed exchange, convertible into either SDK error.
#[derive(Debug)]
pub enum Failure {
    Retryable(String),
    RateLimited(Option<Duration>, String),
    Permanent(String),
    /// Credentials or settings are wrong: permanent until someone fixes the configuration.
    Config(String),
}

impl Failure {
    /// 2xx is not a failure; 429 (and 503 with `Retry-After`) → rate limited; 408/5xx → retryable; other 4xx →
    /// permanent (401/403 → config).
    pub fn from_status(
        status: reqwest::StatusCode,
        headers: &reqwest::header::HeaderMap,
        what: &str,
    ) -> Failure {
        let code = status.as_u16();
        let msg = format!("{what}: HTTP {code}");
        match code {
            429 => Failure::RateLimited(retry_after(headers), msg),
            503 if headers.contains_key(reqwest::header::RETRY_AFTER) => {
                Failure::RateLimited(retry_after(headers), msg)
            }
            408 | 500..=599 => Failure::Retryable(msg),
            401 | 403 => Failure::Config(format!("{msg} (check the credentials)")),
            _ => Failure::Permanent(msg),
        }
    }

    /// Timeouts and connection errors → retryable; a bad URL or a body we could not build → config.
    pub fn from_reqwest(e: &reqwest::Error, what: &str) -> Failure {
        // reqwest errors may carry the URL; it holds no secret (tokens travel in headers), so it is kept.
        if e.is_timeout() {
            Failure::Retryable(format!("{what}: timed out"))
        } else if e.is_connect() {
            Failure::Retryable(format!("{what}: cannot connect: {e}"))
        } else if e.is_builder() {
            Failure::Config(format!("{what}: bad request setup: {e}"))
        } else if e.is_decode() || e.is_body() {
            Failure::Retryable(format!("{what}: response cut short: {e}"))
        } else {
            Failure::Retryable(format!("{what}: {e}"))
        }
    }
}

impl From<Failure> for SinkError {
    fn from(f: Failure) -> SinkError {
        match f {
            Failure::Retryable(m) => SinkError::Retryable(m),
            Failure::RateLimited(retry_after, message) => SinkError::RateLimited {
                retry_after,
                message,
            },
            Failure::Permanent(m) => SinkError::Permanent(m),
            Failure::Config(m) => SinkError::Permanent(format!("configuration: {m}")),
        }
    }
}

impl From<Failure> for ConnectorError {
    fn from(f: Failure) -> ConnectorError {
        match f {
            Failure::Retryable(m) => ConnectorError::Retryable(m),
            Failure::RateLimited(retry_after, message) => ConnectorError::RateLimited {
                retry_after,
                message,
            },
            Failure::Permanent(m) => ConnectorError::Permanent(m),
            Failure::Config(m) => ConnectorError::Config(m),
        }
    }
}
