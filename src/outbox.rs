//! Delivering the outbox: publishes captured changes, then hands due messages to their sink connectors — at least
//! once, with the idempotency key, in order per invoice, retried on the configured schedule with jitter, honouring
//! `Retry-After`, with a per-connector circuit breaker and rate limit, and a dead-letter state.

use crate::app::App;
use crate::store::{AttemptResult, OutboxRow};
use chrono::{DateTime, Utc};
use cuadra_sdk::{IdempotencyKey, OutboundMessage, SinkError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// Consecutive failures that open a connector's circuit, and how long it stays open.
const BREAKER_THRESHOLD: u32 = 5;
const BREAKER_OPEN_SECS: i64 = 30;
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER_SECS: u64 = 3600;

#[derive(Default)]
struct Breaker {
    failures: u32,
    open_until: Option<DateTime<Utc>>,
    last_send: Option<std::time::Instant>,
}

/// Per-process delivery state (breakers, pacing).
#[derive(Clone, Default)]
pub struct Delivery {
    breakers: Arc<Mutex<HashMap<String, Breaker>>>,
    /// When changes were last published, and whether the pass after it found a full batch (a backlog).
    published: Arc<Mutex<Option<(std::time::Instant, bool)>>>,
}

/// While a backlog drains, change capture (a scan of every invoice) runs at most this often instead of every pass.
const PUBLISH_EVERY_WHILE_BUSY: Duration = Duration::from_secs(1);

/// The sink connectors' names.
pub fn sink_names(app: &App) -> Vec<String> {
    app.connectors()
        .iter()
        .filter(|c| c.sink.is_some())
        .map(|c| c.name.clone())
        .collect()
}

/// One pass: publish changes, deliver what is due. Returns how many messages were attempted.
pub async fn deliver_once(app: &App, state: &Delivery) -> anyhow::Result<usize> {
    let sinks = sink_names(app);
    if sinks.is_empty() {
        return Ok(0);
    }
    let publish = {
        let p = state.published.lock().unwrap_or_else(|p| p.into_inner());
        match *p {
            Some((at, true)) => at.elapsed() >= PUBLISH_EVERY_WHILE_BUSY,
            _ => true,
        }
    };
    if publish {
        app.store.publish_changes(&sinks).await?;
    }
    let now = app.store.now();
    let concurrency = app.settings.outbox.concurrency.max(1) as usize;
    let limit = concurrency * 8;
    let due = app.store.outbox_due(now, limit as i64).await?;
    {
        let mut p = state.published.lock().unwrap_or_else(|p| p.into_inner());
        let busy = due.len() >= limit;
        *p = match (*p, publish) {
            (_, true) | (None, _) => Some((std::time::Instant::now(), busy)),
            (Some((at, _)), false) => Some((at, busy)),
        };
    }
    let (depth, age) = app.store.outbox_depth().await?;
    metrics::gauge!("cuadra_outbox_depth").set(depth as f64);
    metrics::gauge!("cuadra_outbox_oldest_age_seconds").set(age as f64);
    let due: Vec<OutboxRow> = due
        .into_iter()
        .filter(|r| !breaker_open(state, &r.connector, now))
        .collect();
    let claim = app.settings.outbox.claim_secs.clamp(1, 86_400) as i64;
    let until = now + chrono::Duration::seconds(claim);
    let ids: Vec<i64> = due.iter().map(|r| r.id).collect();
    let claimed: std::collections::HashSet<i64> = app
        .store
        .outbox_claim_many(&ids, &app.instance_id, now, until)
        .await?
        .into_iter()
        .collect();
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    let mut attempted = 0;
    for row in due.into_iter().filter(|r| claimed.contains(&r.id)) {
        attempted += 1;
        let permit = sem.clone().acquire_owned().await?;
        let (app, state) = (app.clone(), state.clone());
        tasks.spawn(async move {
            let _permit = permit;
            let id = row.id;
            (id, deliver_row(&app, &state, row).await)
        });
    }
    // Results are recorded together; a crash before this leaves the claims to expire and the messages to be
    // delivered again (at least once, with the same idempotency key).
    let mut results = Vec::with_capacity(attempted);
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok((id, Ok(result))) => results.push((id, result)),
            Ok((id, Err(e))) => {
                tracing::error!(outbox_id = id, error = %e, "an outbox message could not be attempted")
            }
            Err(e) => tracing::error!(error = %e, "an outbox delivery task failed"),
        }
    }
    app.store.outbox_record(&results).await?;
    Ok(attempted)
}

fn breaker_open(state: &Delivery, connector: &str, now: DateTime<Utc>) -> bool {
    let b = state.breakers.lock().unwrap_or_else(|p| p.into_inner());
    b.get(connector)
        .and_then(|b| b.open_until)
        .is_some_and(|t| t > now)
}

async fn pace(app: &App, state: &Delivery, connector: &str) {
    let rate = app
        .settings
        .connectors
        .get(connector)
        .and_then(|c| c.settings.get("rate_per_sec"))
        .and_then(|v| {
            v.as_f64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .filter(|r| *r > 0.0);
    let Some(rate) = rate else { return };
    let interval = Duration::from_secs_f64(1.0 / rate);
    let wait = {
        let mut b = state.breakers.lock().unwrap_or_else(|p| p.into_inner());
        let entry = b.entry(connector.to_string()).or_default();
        let now = std::time::Instant::now();
        let next = entry.last_send.map(|t| t + interval).unwrap_or(now);
        let at = next.max(now);
        entry.last_send = Some(at);
        at.saturating_duration_since(now)
    };
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
}

async fn deliver_row(app: &App, state: &Delivery, row: OutboxRow) -> anyhow::Result<AttemptResult> {
    let Some(sink) = app.connector(&row.connector).and_then(|c| c.sink.clone()) else {
        return Ok(AttemptResult::Failed {
            error: "the connector is no longer configured".into(),
            next: app.store.now() + chrono::Duration::seconds(60),
            dead: false,
        });
    };
    pace(app, state, &row.connector).await;
    let envelope: serde_json::Value = serde_json::from_str(&row.payload).unwrap_or_default();
    let msg = OutboundMessage {
        key: IdempotencyKey::parse(&row.idempotency_key)?,
        event_type: row.event_type.clone(),
        ordering_key: row.ordering_key.clone(),
        payload: envelope.get("data").cloned().unwrap_or_default(),
        created_at: crate::store::parse_ts(&row.created_at).unwrap_or_else(|| app.store.now()),
        attempt: row.attempts as u32 + 1,
    };
    let result = sink.deliver(&msg).await;
    let now = app.store.now();
    let attempts = row.attempts as u32 + 1;
    let max = app.settings.outbox.max_attempts.max(1);
    match result {
        Ok(receipt) => {
            record(state, &row.connector, true, now);
            metrics::counter!("cuadra_outbox_deliveries_total", "connector" => row.connector.clone(), "result" => "delivered").increment(1);
            Ok(AttemptResult::Delivered {
                remote_id: receipt.remote_id,
            })
        }
        Err(e) => {
            record(state, &row.connector, false, now);
            let (delay, dead) = match &e {
                SinkError::Permanent(_) => (Duration::ZERO, true),
                SinkError::RateLimited {
                    retry_after: Some(d),
                    ..
                } => (
                    Duration::from_secs(d.as_secs().clamp(1, MAX_RETRY_AFTER_SECS)),
                    attempts >= max,
                ),
                _ => (
                    backoff(&app.settings.outbox.retry_schedule_secs, attempts, row.id),
                    attempts >= max,
                ),
            };
            let label = if dead { "dead" } else { "retry" };
            metrics::counter!("cuadra_outbox_deliveries_total", "connector" => row.connector.clone(), "result" => label).increment(1);
            tracing::warn!(connector = %row.connector, outbox_id = row.id, attempt = attempts, error = %e, "outbox delivery failed");
            let next =
                now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::seconds(60));
            Ok(AttemptResult::Failed {
                error: e.to_string(),
                next,
                dead,
            })
        }
    }
}

fn record(state: &Delivery, connector: &str, ok: bool, now: DateTime<Utc>) {
    let mut b = state.breakers.lock().unwrap_or_else(|p| p.into_inner());
    let entry = b.entry(connector.to_string()).or_default();
    if ok {
        entry.failures = 0;
        entry.open_until = None;
    } else {
        entry.failures += 1;
        if entry.failures >= BREAKER_THRESHOLD {
            entry.open_until = Some(now + chrono::Duration::seconds(BREAKER_OPEN_SECS));
            metrics::counter!("cuadra_outbox_breaker_opened_total", "connector" => connector.to_string()).increment(1);
        }
    }
}

/// The schedule's delay for this attempt, with ±20 % jitter derived from the message and attempt (spreads retries
/// without a random source; stable for tests).
pub fn backoff(schedule: &[u64], attempt: u32, id: i64) -> Duration {
    let base = schedule
        .get((attempt.max(1) - 1) as usize)
        .or(schedule.last())
        .copied()
        .unwrap_or(60);
    let h = cuadra_sdk::sha256_hex(format!("{id}:{attempt}").as_bytes());
    let frac = u64::from_str_radix(&h[..4], 16).unwrap_or(0) % 41; // 0..=40
    let millis = base * 1000 * (80 + frac) / 100;
    Duration::from_millis(millis.max(100))
}

/// The worker loop of the daemon.
pub async fn run(app: App, mut stop: watch::Receiver<bool>) {
    if sink_names(&app).is_empty() {
        let _ = stop.wait_for(|s| *s).await;
        return;
    }
    let state = Delivery::default();
    loop {
        match deliver_once(&app, &state).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "the outbox could not be drained"),
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_follows_schedule_with_bounded_jitter() {
        let s = [5, 30, 120];
        for attempt in 1..6 {
            let base = s[(attempt as usize - 1).min(2)] * 1000;
            let d = backoff(&s, attempt, 7).as_millis() as u64;
            assert!(
                d >= base * 80 / 100 && d <= base * 120 / 100,
                "{attempt}: {d}"
            );
        }
    }
}
