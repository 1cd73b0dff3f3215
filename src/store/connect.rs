//! Opening the ledger: connecting (SQLite's file and settings, the pools), migrating, readiness, and write
//! transactions (the one writer discipline, `docs/storage.md`).

use super::busy::Backoff;
use super::dialect::Query;
use super::{system_clock, Backend, Store, WriteTx};
use anyhow::Context;
use sqlx::any::AnyPoolOptions;
use sqlx::{Executor, Row};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use tokio::sync::Mutex;

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// SQLite's page cache per connection (16 MB).
pub(crate) const SQLITE_CACHE_PRAGMA: &str = "PRAGMA cache_size = -16384";

impl Store {
    /// The migrations of this store's backend (one schema, two dialects).
    fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        }
    }

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
                            // once instead of once per 32 MB. `synchronous=FULL`: a commit is on disk before it
                            // returns, so what was acknowledged (a webhook's 2xx, an import's summary) survives a
                            // power loss or an OS crash too, not only a crash of the process. Figures in
                            // `docs/storage.md`.
                            conn.execute(
                                "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; \
                                 PRAGMA foreign_keys=ON; PRAGMA busy_timeout=10000; \
                                 PRAGMA wal_autocheckpoint=65536; PRAGMA temp_store=MEMORY;",
                            )
                            .await?;
                            conn.execute(SQLITE_CACHE_PRAGMA).await?;
                        } else {
                            // The server's NOTICEs (`relation "_sqlx_migrations" already exists, skipping` at every
                            // start) are not for a person; warnings and errors still reach the log.
                            conn.execute("SET client_min_messages = warning").await?;
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
        // warm from one write transaction to the next (a connection that sees another one's commit drops its
        // whole cache).
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

    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = self.migrator();
        // Migrations write: they run on the writer like every other write.
        migrator
            .run(&self.writer)
            .await
            .context("applying database migrations")?;
        Ok(())
    }

    /// Readiness: the database answers and every migration is applied.
    pub async fn ready(&self) -> anyhow::Result<()> {
        let migrator = self.migrator();
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

    /// Starts a write transaction: every write goes through here (or [`Store::write_one`]). On SQLite it takes
    /// the process's write lock, then SQLite's (`BEGIN IMMEDIATE` on the writer connection), and meets another
    /// process holding it with a bounded backoff (`busy`).
    pub async fn begin_write(&self) -> anyhow::Result<WriteTx<'_>> {
        let guard = match self.backend {
            Backend::Sqlite => Some(self.write_lock.lock().await),
            Backend::Postgres => None,
        };
        let tx = self.begin_on_writer().await?;
        Ok(WriteTx {
            tx,
            _guard: guard,
            uuidless_invoices: None,
            dict_ids: Default::default(),
        })
    }
}

impl Store {
    /// `BEGIN IMMEDIATE` (PostgreSQL: `BEGIN`) on the writer pool, tried again while another process holds
    /// SQLite's write lock; the caller holds the process's write lock (see [`Store::begin_write`]).
    pub(crate) async fn begin_on_writer(
        &self,
    ) -> anyhow::Result<sqlx::Transaction<'static, sqlx::Any>> {
        let begin = self.dialect().begin_write();
        let mut backoff = Backoff::new();
        loop {
            match self.writer.begin_with(begin).await {
                Ok(tx) => return Ok(tx),
                Err(e) if backoff.again(&e).await => continue,
                Err(e) => return Err(e).context("starting a transaction"),
            }
        }
    }

    /// Runs one writing statement (a lease, an outbox claim) in a write transaction of its own, so that it
    /// takes its turn like every other write instead of racing the writer from the read pool.
    pub(crate) async fn write_one(
        &self,
        q: Query<'_>,
    ) -> anyhow::Result<sqlx::any::AnyQueryResult> {
        let mut tx = self.begin_write().await?;
        let done = q.execute(&mut *tx.tx).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// [`Store::write_one`] for a statement with `RETURNING`: the rows it returned.
    pub(crate) async fn write_fetch(&self, q: Query<'_>) -> anyhow::Result<Vec<sqlx::any::AnyRow>> {
        let mut tx = self.begin_write().await?;
        let rows = q.fetch_all(&mut *tx.tx).await?;
        tx.commit().await?;
        Ok(rows)
    }
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
