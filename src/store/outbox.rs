//! The outbox in the ledger: change capture (which allocations and invoice states are not yet published), the
//! messages waiting for each sink connector, and their delivery state (pending → delivered | dead | dropped).
//!
//! Publishing is change capture over durable flags, so it is crash-safe without sharing the transaction of the
//! change: a crash between a change and its publication is caught up by the next `publish_changes`.

use super::row::RowExt;
use super::{money, ts, Store, WriteTx};
use anyhow::Context;
use chrono::{DateTime, Utc};

/// What one delivery attempt ended in.
#[derive(Debug, Clone)]
pub enum AttemptResult {
    Delivered {
        remote_id: Option<String>,
    },
    Failed {
        error: String,
        next: DateTime<Utc>,
        dead: bool,
    },
}

/// One outbox row as `cuadra outbox list` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub connector: String,
    pub idempotency_key: String,
    pub event_type: String,
    pub ordering_key: String,
    pub payload: String,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: String,
    pub last_error: Option<String>,
    pub created_at: String,
}

pub const OUTBOX_COLUMNS: &[&str] = &[
    "id",
    "connector",
    "event_type",
    "ordering_key",
    "state",
    "attempts",
    "next_attempt_at",
    "last_error",
    "created_at",
];

impl Store {
    /// Enqueues one event for every sink, keyed so a repeat enqueue is a no-op.
    pub async fn enqueue_event(
        &self,
        tx: &mut WriteTx<'_>,
        sinks: &[String],
        key: &str,
        event_type: &str,
        ordering_key: &str,
        data: serde_json::Value,
    ) -> anyhow::Result<()> {
        let now = self.now_text();
        for sink in sinks {
            let idem = format!("{sink}:{key}");
            let body =
                serde_json::json!({"id": idem, "type": event_type, "timestamp": now, "data": data});
            sqlx::query(
                "INSERT INTO outbox (connector, idempotency_key, event_type, ordering_key, payload, state, attempts, \
                 next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6) \
                 ON CONFLICT (idempotency_key) DO NOTHING",
            )
            .bind(sink)
            .bind(&idem)
            .bind(event_type)
            .bind(ordering_key)
            .bind(body.to_string())
            .bind(&now)
            .execute(&mut *tx.tx)
            .await
            .context("writing to the outbox")?;
        }
        Ok(())
    }

    /// Publishes every unpublished allocation (created/removed) and invoice state change to `sinks`.
    /// Returns the number of events enqueued per sink.
    pub async fn publish_changes(&self, sinks: &[String]) -> anyhow::Result<u64> {
        if sinks.is_empty() {
            return Ok(0);
        }
        let views = self.invoice_views().await?;
        let mut tx = self.begin_write().await?;
        let mut n = 0;
        let allocs = sqlx::query(
            "SELECT a.id, a.payment_id, i.uuid, i.erp_id, i.serie, i.folio, a.amount_micros, a.currency, a.method, \
             a.confidence_pct, a.explanation, a.created_at, a.removed_at, a.published_created, p.booked_on \
             FROM allocations a JOIN invoices i ON i.id = a.invoice_id JOIN payments p ON p.id = a.payment_id \
             WHERE a.published_created = 0 OR (a.removed_at IS NOT NULL AND a.published_removed = 0) ORDER BY a.id",
        )
        .fetch_all(&mut *tx.tx)
        .await?;
        for r in allocs {
            let id = r.int("id")?;
            let cur = r.text("currency")?;
            let uuid = r.opt_text("uuid")?;
            let erp_id = r.opt_text("erp_id")?;
            let invoice_key = uuid
                .clone()
                .unwrap_or_else(|| format!("erp:{}", erp_id.clone().unwrap_or_default()));
            let data = serde_json::json!({
                "id": id.to_string(),
                "payment_id": r.int("payment_id")?.to_string(),
                "invoice_uuid": uuid.unwrap_or_default(),
                "invoice_erp_id": erp_id,
                "serie": r.opt_text("serie")?,
                "folio": r.opt_text("folio")?,
                "amount": money(r.int("amount_micros")?, &cur),
                "currency": cur,
                "method": r.text("method")?,
                "confidence": rust_decimal::Decimal::new(r.int("confidence_pct")?, 2).to_string(),
                "explanation": r.text("explanation")?,
                "created_at": r.text("created_at")?,
                "payment_date": r.text("booked_on")?,
            });
            if r.int("published_created")? == 0 {
                self.enqueue_event(
                    &mut tx,
                    sinks,
                    &format!("allocation.created:{id}"),
                    "allocation.created",
                    &invoice_key,
                    data.clone(),
                )
                .await?;
                n += 1;
            }
            if r.opt_text("removed_at")?.is_some() {
                self.enqueue_event(
                    &mut tx,
                    sinks,
                    &format!("allocation.removed:{id}"),
                    "allocation.removed",
                    &invoice_key,
                    data,
                )
                .await?;
                n += 1;
            }
            sqlx::query(
                "UPDATE allocations SET published_created = 1, \
                 published_removed = CASE WHEN removed_at IS NULL THEN 0 ELSE 1 END WHERE id = $1",
            )
            .bind(id)
            .execute(&mut *tx.tx)
            .await?;
        }
        let published: std::collections::HashMap<i64, String> =
            sqlx::query("SELECT invoice_id, fingerprint FROM invoice_snapshots")
                .fetch_all(&mut *tx.tx)
                .await?
                .iter()
                .map(|r| Ok((r.int("invoice_id")?, r.text("fingerprint")?)))
                .collect::<anyhow::Result<_>>()?;
        let now = self.now_text();
        for v in views {
            let balance = if v.status == "cancelled" {
                0
            } else {
                v.balance()
            };
            let fingerprint = format!(
                "{}|{}|{}|{}|{:?}",
                v.status, v.credited, v.paid, balance, v.due_on
            );
            if published.get(&v.id) == Some(&fingerprint) {
                continue;
            }
            let key = v
                .uuid
                .clone()
                .unwrap_or_else(|| format!("invoice:{}", v.id));
            let data = serde_json::json!({
                "uuid": v.uuid.clone().unwrap_or_default(),
                "serie": v.serie.clone().unwrap_or_default(),
                "folio": v.folio.clone().unwrap_or_default(),
                "customer_rfc": v.customer_rfc.clone().unwrap_or_default(),
                "customer_name": v.customer_name.clone().unwrap_or_default(),
                "issued_at": v.issued_at,
                "due_at": v.due_on.map(|d| d.to_string()).unwrap_or_default(),
                "currency": v.currency,
                "total": money(v.total, &v.currency),
                "credited": money(v.credited, &v.currency),
                "paid": money(v.paid, &v.currency),
                "balance": money(balance, &v.currency),
                "status": v.status,
            });
            let event_key = format!("invoice.updated:{}:{}", key, short_hash(&fingerprint));
            self.enqueue_event(&mut tx, sinks, &event_key, "invoice.updated", &key, data)
                .await?;
            n += 1;
            sqlx::query(
                "INSERT INTO invoice_snapshots (invoice_id, fingerprint, published_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (invoice_id) DO UPDATE SET fingerprint = excluded.fingerprint, published_at = excluded.published_at",
            )
            .bind(v.id)
            .bind(&fingerprint)
            .bind(&now)
            .execute(&mut *tx.tx)
            .await?;
        }
        tx.tx
            .commit()
            .await
            .context("committing published changes")?;
        Ok(n)
    }

    /// Pending messages due now, oldest first, skipping any whose ordering key has an older undelivered message
    /// (per-invoice order), and not held by another worker.
    pub async fn outbox_due(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> anyhow::Result<Vec<OutboxRow>> {
        let rows = sqlx::query(
            "SELECT o.* FROM outbox o WHERE o.state = 'pending' AND o.next_attempt_at <= $1 \
             AND (o.locked_until IS NULL OR o.locked_until < $1) \
             AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.connector = o.connector AND e.ordering_key = o.ordering_key \
                             AND e.id < o.id AND e.state = 'pending') \
             ORDER BY o.id LIMIT $2",
        )
        .bind(ts(now))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(outbox_row).collect()
    }

    /// Claims a message for `holder` until `until`; false if another worker has it.
    pub async fn outbox_claim(
        &self,
        id: i64,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let n = self
            .write_one(
                sqlx::query(
                    "UPDATE outbox SET locked_by = $1, locked_until = $2 WHERE id = $3 AND state = 'pending' \
                     AND (locked_until IS NULL OR locked_until < $4)",
                )
                .bind(holder)
                .bind(ts(until))
                .bind(id)
                .bind(ts(now)),
            )
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    /// Claims several messages at once for `holder`; returns the ids it got.
    pub async fn outbox_claim_many(
        &self,
        ids: &[i64],
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> anyhow::Result<Vec<i64>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // Ids come from the database as integers; inlining them is safe and keeps this one statement.
        let list = ids
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let sql = format!(
            "UPDATE outbox SET locked_by = $1, locked_until = $2 WHERE id IN ({list}) AND state = 'pending' \
             AND (locked_until IS NULL OR locked_until < $3) RETURNING id"
        );
        let rows = self
            .write_fetch(sqlx::query(&sql).bind(holder).bind(ts(until)).bind(ts(now)))
            .await?;
        rows.iter().map(|r| r.int("id")).collect()
    }

    /// Records the results of a delivery pass in one transaction.
    pub async fn outbox_record(&self, results: &[(i64, AttemptResult)]) -> anyhow::Result<()> {
        if results.is_empty() {
            return Ok(());
        }
        let now = self.now_text();
        let mut tx = self.begin_write().await?;
        for (id, r) in results {
            match r {
                AttemptResult::Delivered { remote_id } => {
                    sqlx::query(
                        "UPDATE outbox SET state = 'delivered', attempts = attempts + 1, delivered_at = $1, remote_id = $2, \
                         locked_by = NULL, locked_until = NULL, last_error = NULL WHERE id = $3",
                    )
                    .bind(&now)
                    .bind(remote_id.clone())
                    .bind(id)
                    .execute(&mut *tx.tx)
                    .await?;
                }
                AttemptResult::Failed { error, next, dead } => {
                    sqlx::query(
                        "UPDATE outbox SET state = $1, attempts = attempts + 1, next_attempt_at = $2, last_error = $3, \
                         locked_by = NULL, locked_until = NULL WHERE id = $4",
                    )
                    .bind(if *dead { "dead" } else { "pending" })
                    .bind(ts(*next))
                    .bind(error.chars().take(500).collect::<String>())
                    .bind(id)
                    .execute(&mut *tx.tx)
                    .await?;
                }
            }
        }
        tx.tx.commit().await.context("recording outbox results")?;
        Ok(())
    }

    /// Puts a message back in the queue now (from dead or pending), attempts reset.
    pub async fn outbox_retry(&self, id: i64) -> anyhow::Result<bool> {
        let n = self
            .write_one(
                sqlx::query(
                    "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = $1, locked_by = NULL, \
                     locked_until = NULL WHERE id = $2 AND state IN ('dead', 'pending')",
                )
                .bind(self.now_text())
                .bind(id),
            )
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    /// Gives up on a message (kept, state `dropped`).
    pub async fn outbox_drop(&self, id: i64) -> anyhow::Result<bool> {
        let n = self
            .write_one(
                sqlx::query(
                    "UPDATE outbox SET state = 'dropped', locked_by = NULL WHERE id = $1 \
                     AND state IN ('dead', 'pending')",
                )
                .bind(id),
            )
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    pub async fn outbox_list(&self, state: Option<&str>) -> anyhow::Result<Vec<OutboxRow>> {
        let rows = sqlx::query("SELECT * FROM outbox WHERE ($1 = '' OR state = $1) ORDER BY id")
            .bind(state.unwrap_or(""))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(outbox_row).collect()
    }

    /// Depth (pending) and age in seconds of the oldest pending message, for metrics.
    pub async fn outbox_depth(&self) -> anyhow::Result<(i64, i64)> {
        let r = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox WHERE state = 'pending'",
        )
        .fetch_one(self.pool())
        .await?;
        let n = r.int("n")?;
        let oldest = r.opt_text("oldest")?;
        let age = oldest
            .and_then(|o| super::parse_ts(&o))
            .map(|t| (self.now() - t).num_seconds().max(0))
            .unwrap_or(0);
        Ok((n, age))
    }
}

fn short_hash(s: &str) -> String {
    cuadra_sdk::sha256_hex(s.as_bytes())[..16].to_string()
}

fn outbox_row(r: &sqlx::any::AnyRow) -> anyhow::Result<OutboxRow> {
    Ok(OutboxRow {
        id: r.int("id")?,
        connector: r.text("connector")?,
        idempotency_key: r.text("idempotency_key")?,
        event_type: r.text("event_type")?,
        ordering_key: r.text("ordering_key")?,
        payload: r.text("payload")?,
        state: r.text("state")?,
        attempts: r.int("attempts")?,
        next_attempt_at: r.text("next_attempt_at")?,
        last_error: r.opt_text("last_error")?,
        created_at: r.text("created_at")?,
    })
}
