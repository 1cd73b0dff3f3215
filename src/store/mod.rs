//! The ledger: one store API over SQLite (embedded default) and PostgreSQL (production, several instances).
//!
//! Both backends run the same SQL through sqlx's `Any` driver: `$N` placeholders, `ON CONFLICT`, `RETURNING`,
//! BIGINT micro-units for money (sums stay exact; every `SUM` is cast back to BIGINT), TEXT instants and dates;
//! the few primitives that differ come from [`dialect`], and each table's row is bound by one function in `bind`.
//! The schema lives in `migrations/sqlite` and `migrations/postgres` (one schema, two dialects); an invoice's open
//! balance is the view `invoice_balance`. Every write goes through `Store::begin_write` (one writer discipline:
//! on SQLite a process-wide lock, `BEGIN IMMEDIATE` on the one writer connection, and a bounded retry when another
//! process holds the database, `busy`). Layout, the rule and measurements: `docs/storage.md`.

mod bind;
mod bulk;
mod busy;
mod conflicts;
mod connect;
mod customers;
mod dialect;
mod doc_exceptions;
mod follow;
mod ingest;
mod invoices;
mod lease;
mod link;
mod outbox;
mod ranges;
mod raw;
mod reconcile;
mod report_payments;
mod reports;
mod row;

pub use busy::is_transient;
pub use conflicts::{FileConflict, REJECTED_KIND};
pub use connect::redact_url;
pub(crate) use connect::SQLITE_CACHE_PRAGMA;
pub use customers::customer_key;
pub use ingest::{
    delivery_label as delivery_label_of, normalize_account, unstorable_amount, IngestOutcome,
    IngestSummary,
};
pub use lease::{HeldLease, LEASE_TTL};
pub use link::LinkSummary;
pub use outbox::{AttemptResult, OutboxRow, OUTBOX_COLUMNS};
pub use raw::{Prepacked, RawDelivery};
pub use reconcile::{DecisionPart, ManualMatch, EXCEPTION_COLUMNS};
pub use reports::*;

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use row::RowExt;
use sqlx::AnyPool;
use std::sync::Arc;
use tokio::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where "now" comes from; tests inject a fixed or stepping clock.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    /// Where write transactions run: on SQLite a pool of one connection, on PostgreSQL the pool itself.
    writer: AnyPool,
    backend: Backend,
    write_lock: Arc<Mutex<()>>,
    clock: Clock,
    tz: chrono_tz::Tz,
    /// Compression of raw bodies, with the dictionaries this process knows.
    packer: Arc<raw::Packer>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({:?})", self.backend)
    }
}

/// A write transaction; on SQLite it also holds the process-wide write lock.
pub struct WriteTx<'a> {
    pub tx: sqlx::Transaction<'a, sqlx::Any>,
    _guard: Option<tokio::sync::MutexGuard<'a, ()>>,
    /// Whether invoices without a UUID (ERP-only) exist, looked up once per transaction.
    pub(crate) uuidless_invoices: Option<bool>,
    /// Compression dictionaries written (or found) in this transaction: SHA-256 to id.
    pub(crate) dict_ids: std::collections::HashMap<String, i64>,
}

impl WriteTx<'_> {
    /// Commits the transaction (and releases the write lock).
    pub async fn commit(self) -> anyhow::Result<()> {
        self.tx.commit().await.context("committing a transaction")
    }
}

impl Store {
    pub fn with_clock(mut self, clock: Clock) -> Store {
        self.clock = clock;
        self
    }

    /// The company's time zone, for civil dates.
    pub fn with_timezone(mut self, tz: chrono_tz::Tz) -> Store {
        self.tz = tz;
        self
    }

    pub fn timezone(&self) -> chrono_tz::Tz {
        self.tz
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    pub fn now_text(&self) -> String {
        ts(self.now())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The pool write transactions use (see `connect`).
    pub(crate) fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// Appends an audit entry inside a transaction.
    pub async fn audit(
        &self,
        tx: &mut WriteTx<'_>,
        actor: &str,
        action: &str,
        entity: &str,
        entity_id: &str,
        detail: serde_json::Value,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, entity, entity_id, detail) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(self.now_text())
        .bind(actor)
        .bind(action)
        .bind(entity)
        .bind(entity_id)
        .bind(detail.to_string())
        .execute(&mut *tx.tx)
        .await
        .context("writing the audit log")?;
        Ok(())
    }

    pub async fn checkpoint(&self, connector: &str) -> anyhow::Result<Option<serde_json::Value>> {
        let row = sqlx::query("SELECT value FROM checkpoints WHERE connector = $1")
            .bind(connector)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            None => Ok(None),
            Some(r) => {
                let text = r.text("value")?;
                Ok(Some(serde_json::from_str(&text).with_context(|| {
                    format!("checkpoint of connector {connector} is not JSON")
                })?))
            }
        }
    }

    pub(crate) async fn put_checkpoint(
        &self,
        tx: &mut WriteTx<'_>,
        connector: &str,
        value: &serde_json::Value,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO checkpoints (connector, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (connector) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(connector)
        .bind(value.to_string())
        .bind(self.now_text())
        .execute(&mut *tx.tx)
        .await?;
        Ok(())
    }

    /// Counts rows of a ledger table (for `doctor` and tests).
    pub async fn count(&self, table: &str) -> anyhow::Result<i64> {
        anyhow::ensure!(
            TABLES.contains(&table),
            "unknown table {table}; expected one of {TABLES:?}"
        );
        let n = sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
            .fetch_one(&self.pool)
            .await?
            .int("n")?;
        Ok(n)
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}

pub const TABLES: &[&str] = &[
    "customers",
    "customer_aliases",
    "raw_inbox",
    "raw_dicts",
    "conflicts",
    "invoices",
    "credits",
    "credit_applications",
    "payments",
    "allocations",
    "exceptions",
    "sat_status",
    "checkpoints",
    "outbox",
    "audit_log",
    "leases",
];

/// RFC 3339 UTC with seconds, sortable as text.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}
