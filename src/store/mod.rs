//! The ledger: one store API over SQLite (embedded default) and PostgreSQL (production, several instances).
//!
//! Both backends run the same SQL through sqlx's `Any` driver: `$N` placeholders, `ON CONFLICT`, `RETURNING`,
//! BIGINT micro-units for money (sums stay exact; every `SUM` is cast back to BIGINT), TEXT instants and dates.
//! The schema lives in `migrations/sqlite` and `migrations/postgres` (one schema, two dialects). On SQLite, write
//! transactions are serialized inside the process (a lock upgrade between two readers would fail with BUSY).

mod bulk;
mod dialect;
mod ingest;
mod link;
mod outbox;
mod raw;
mod reconcile;
mod reports;
mod row;

pub use ingest::{
    customer_key, delivery_label as delivery_label_of, normalize_account, IngestOutcome,
    IngestSummary,
};
pub use link::LinkSummary;
pub use outbox::{AttemptResult, OutboxRow, OUTBOX_COLUMNS};
pub use raw::{Prepacked, RawDelivery};
pub use reconcile::{DecisionPart, ManualMatch, EXCEPTION_COLUMNS};
pub use reports::*;

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use tokio::sync::Mutex;

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// SQLite's page cache per connection (16 MB).
pub(crate) const SQLITE_CACHE_PRAGMA: &str = "PRAGMA cache_size = -16384";

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
    /// Connects (creating the SQLite file and its folder when missing) without migrating.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let url = match backend {
            Backend::Sqlite => sqlite_url(url)?,
            Backend::Postgres => url.to_string(),
        };
        let options = || {
            AnyPoolOptions::new()
                .min_connections(0)
                .idle_timeout(Some(std::time::Duration::from_secs(60)))
                .after_connect(move |conn, _meta| {
                    Box::pin(async move {
                        if backend == Backend::Sqlite {
                            // Checkpoints every 65,536 WAL pages (256 MB): a bulk import rewrites the same index
                            // pages in many transactions, and a longer WAL copies each of them to the database
                            // once instead of once per 32 MB (an import of 200,000 CFDI spent a third less time
                            // committing). `synchronous=FULL`: a commit is on disk before it returns, so what was
                            // acknowledged (a webhook's 2xx, an import's summary) survives a power loss or an OS
                            // crash too, not only a crash of the process (NORMAL in WAL mode); commits are few
                            // (grouped per batch), so the flushes cost little.
                            conn.execute(
                                "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; \
                                 PRAGMA foreign_keys=ON; PRAGMA busy_timeout=10000; \
                                 PRAGMA wal_autocheckpoint=65536; PRAGMA temp_store=MEMORY;",
                            )
                            .await?;
                            conn.execute(SQLITE_CACHE_PRAGMA).await?;
                        }
                        Ok(())
                    })
                })
        };
        let pool = options()
            .max_connections(max_connections.max(1))
            .connect(&url)
            .await
            .with_context(|| format!("cannot open database {}", redact_url(&url)))?;
        // SQLite has one writer at a time; giving it one connection of its own keeps that connection's page cache
        // warm from one write transaction to the next. (A connection that sees another one's commit drops its
        // whole cache: pool connections taken in turn re-read every index page an import touches, about four
        // reads per CFDI.)
        let writer = match backend {
            Backend::Sqlite => options()
                .max_connections(1)
                .connect(&url)
                .await
                .with_context(|| format!("cannot open database {}", redact_url(&url)))?,
            Backend::Postgres => pool.clone(),
        };
        Ok(Store {
            pool,
            writer,
            backend,
            write_lock: Arc::new(Mutex::new(())),
            clock: system_clock(),
            tz: chrono_tz::America::Mexico_City,
            packer: Arc::default(),
        })
    }

    /// Connects and applies migrations.
    pub async fn open(url: &str, max_connections: u32) -> anyhow::Result<Store> {
        let store = Store::connect(url, max_connections).await?;
        store.migrate().await?;
        Ok(store)
    }

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

    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        };
        migrator
            .run(&self.pool)
            .await
            .context("applying database migrations")?;
        Ok(())
    }

    /// Readiness: the database answers and every migration is applied.
    pub async fn ready(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        };
        let applied: i64 = sqlx::query("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = $1")
            .bind(true)
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get::<i64, _>(0))
            .context("database not reachable or not migrated")?;
        let expected = migrator.iter().count() as i64;
        anyhow::ensure!(
            applied >= expected,
            "{applied} of {expected} migrations applied; run `cuadra migrate`"
        );
        Ok(())
    }

    /// Starts a write transaction.
    pub async fn begin_write(&self) -> anyhow::Result<WriteTx<'_>> {
        let guard = match self.backend {
            Backend::Sqlite => Some(self.write_lock.lock().await),
            Backend::Postgres => None,
        };
        let tx = self
            .writer
            .begin()
            .await
            .context("starting a transaction")?;
        Ok(WriteTx {
            tx,
            _guard: guard,
            uuidless_invoices: None,
            dict_ids: Default::default(),
        })
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
                let text: String = r.try_get(0)?;
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
        let n: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
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

pub(crate) fn opt_str(row: &AnyRow, col: &str) -> Option<String> {
    row.try_get::<Option<String>, _>(col).ok().flatten()
}
pub(crate) fn get_str(row: &AnyRow, col: &str) -> String {
    opt_str(row, col).unwrap_or_default()
}
pub(crate) fn get_i64(row: &AnyRow, col: &str) -> i64 {
    row.try_get::<Option<i64>, _>(col)
        .ok()
        .flatten()
        .unwrap_or(0)
}
pub(crate) fn opt_i64(row: &AnyRow, col: &str) -> Option<i64> {
    row.try_get::<Option<i64>, _>(col).ok().flatten()
}

/// `sqlite://data/cuadra.db` → creates `data/` and adds `mode=rwc`.
fn sqlite_url(url: &str) -> anyhow::Result<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or("");
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    anyhow::ensure!(
        !path.is_empty(),
        "database.url: expected sqlite://PATH, found no path"
    );
    if path != ":memory:" {
        if let Some(parent) = Path::new(path).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).with_context(|| {
                    format!("cannot create the database folder {}", parent.display())
                })?;
            }
        }
    }
    let mut q = query.unwrap_or("").to_string();
    if !q.contains("mode=") {
        if !q.is_empty() {
            q.push('&');
        }
        q.push_str("mode=rwc");
    }
    Ok(format!("sqlite://{path}?{q}"))
}

/// Drops the password from a database URL before it reaches an error or a log.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((creds, host)) = rest.split_once('@') {
            let user = creds.split(':').next().unwrap_or("");
            return format!("{scheme}://{user}:***@{host}");
        }
    }
    url.to_string()
}

impl FromStr for Backend {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            _ => anyhow::bail!("unknown backend {s}"),
        }
    }
}

impl Store {
    /// Takes (or renews) the lease `name` for `holder` until `ttl` from now; false when another live holder has it.
    pub async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> anyhow::Result<bool> {
        let now = self.now();
        let until = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(10));
        let row = sqlx::query(
            "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE leases.expires_at < $4 OR leases.holder = excluded.holder RETURNING holder",
        )
        .bind(name)
        .bind(holder)
        .bind(ts(until))
        .bind(ts(now))
        .fetch_optional(&self.pool)
        .await
        .context("taking a lease")?;
        Ok(row.is_some())
    }

    /// Gives the lease back (only if `holder` still has it).
    pub async fn release_lease(&self, name: &str, holder: &str) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await
            .context("releasing a lease")?;
        Ok(())
    }
}

/// How long a held lease lasts without renewal, and how often [`HeldLease`] renews it: a holder that died with its
/// process (SIGKILL, power loss) keeps the next one waiting at most `LEASE_TTL`.
pub const LEASE_TTL: std::time::Duration = std::time::Duration::from_secs(30);
const LEASE_RENEW: std::time::Duration = std::time::Duration::from_secs(5);

/// A lease taken with [`Store::hold_lease`], renewed on its own task until [`HeldLease::release`] (or, if dropped,
/// left to expire).
pub struct HeldLease {
    store: Store,
    name: String,
    holder: String,
    heartbeat: tokio::task::JoinHandle<()>,
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

impl HeldLease {
    /// Renews the lease now; false if another holder has taken it (this holder stalled past it).
    pub async fn renew(&self) -> anyhow::Result<bool> {
        self.store
            .try_lease(&self.name, &self.holder, LEASE_TTL)
            .await
    }

    /// Gives the lease back.
    pub async fn release(self) {
        self.heartbeat.abort();
        if let Err(e) = self.store.release_lease(&self.name, &self.holder).await {
            tracing::warn!(lease = %self.name, error = %e, "a lease could not be released; it expires by itself");
        }
    }
}

impl Store {
    /// Takes the lease `name` for `holder` if it is free (see [`Store::try_lease`]) and keeps it renewed; `None`
    /// when another live holder has it.
    pub async fn hold_lease(&self, name: &str, holder: &str) -> anyhow::Result<Option<HeldLease>> {
        if !self.try_lease(name, holder, LEASE_TTL).await? {
            return Ok(None);
        }
        let (store, lease, who) = (self.clone(), name.to_string(), holder.to_string());
        let heartbeat = tokio::spawn(async move {
            loop {
                tokio::time::sleep(LEASE_RENEW).await;
                match store.try_lease(&lease, &who, LEASE_TTL).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(lease = %lease, "a lease was lost (its holder stalled past it)")
                    }
                    Err(e) => tracing::warn!(lease = %lease, error = %e, "renewing a lease failed"),
                }
            }
        });
        Ok(Some(HeldLease {
            store: self.clone(),
            name: name.to_string(),
            holder: holder.to_string(),
            heartbeat,
        }))
    }

    /// [`Store::hold_lease`], waiting while another holder has it (a dead holder's lease runs out in `LEASE_TTL`).
    pub async fn wait_for_lease(&self, name: &str, holder: &str) -> anyhow::Result<HeldLease> {
        let mut told = false;
        loop {
            if let Some(held) = self.hold_lease(name, holder).await? {
                return Ok(held);
            }
            if !told {
                tracing::info!(lease = %name, "waiting for another process or instance to finish");
                told = true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
}
