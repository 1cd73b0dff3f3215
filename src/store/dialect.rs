//! The few SQL primitives that differ between SQLite and PostgreSQL. Domain code (ingest, links, outbox, reports,
//! reconcile's loading and writing) builds its statements from these and never branches on the backend itself.
//!
//! What differs, and nothing else: how parameters are written, `INSERT OR IGNORE`, how many rows come back as one
//! JSON text, how a JSON array parameter becomes rows, how a multi-row insert tells which rows it wrote (and their
//! ids), and two properties of the schema and the engine (the raw inbox's unique key, a single writer), and how a write
//! transaction starts.

use super::{Backend, Store, WriteTx};
use anyhow::Context;
use sqlx::Row;

/// A statement being bound.
pub(crate) type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// The SQL dialect of a store's backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dialect(Backend);

impl Store {
    /// The SQL dialect of this store's backend.
    pub(crate) fn dialect(&self) -> Dialect {
        Dialect(self.backend())
    }
}

impl Dialect {
    pub(crate) fn of(backend: Backend) -> Dialect {
        Dialect(backend)
    }

    /// Whether writes go through one writer at a time (SQLite): rows inserted in one statement then take the ids
    /// after the largest one, in the order of their VALUES, and a look-up before an insert cannot race another
    /// writer.
    pub(crate) fn single_writer(self) -> bool {
        self.0 == Backend::Sqlite
    }

    /// The statement that starts a write transaction. On SQLite `BEGIN IMMEDIATE` takes the write lock at once
    /// (waiting `busy_timeout` for it), so a transaction never reads first and then fails to upgrade its lock
    /// (SQLITE_BUSY_SNAPSHOT, which no timeout helps); PostgreSQL's rows lock as they are written.
    pub(crate) fn begin_write(self) -> &'static str {
        match self.0 {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        }
    }

    /// Whether the raw inbox has its unique key (kind, external_id, sha256) (PostgreSQL, where several instances
    /// write at once); without it (SQLite, `migrations/sqlite/0005_raw_inbox_key.sql`) the single writer looks the
    /// stored bodies up by external id before it inserts.
    pub(crate) fn raw_inbox_unique(self) -> bool {
        self.0 == Backend::Postgres
    }

    /// Parameter `n` (1-based) of a statement: numbered for PostgreSQL; anonymous and bound in order for SQLite,
    /// which looks numbered parameters up by a linear scan (costs that grow with the square of a statement's size).
    pub(crate) fn placeholder(self, n: usize) -> String {
        match self.0 {
            Backend::Sqlite => "?".to_string(),
            Backend::Postgres => format!("${n}"),
        }
    }

    /// `n` parameters numbered from `first`, comma-separated (an `IN` list or a row of values).
    pub(crate) fn placeholders(self, first: usize, n: usize) -> String {
        (first..first + n)
            .map(|i| self.placeholder(i))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `INSERT INTO table (columns) VALUES ($1,..),(..)` for `rows` rows.
    pub(crate) fn insert(self, table: &str, columns: &str, rows: usize) -> String {
        let cols = columns.split(',').count();
        let mut sql = format!("INSERT INTO {table} ({columns}) VALUES ");
        for r in 0..rows {
            if r > 0 {
                sql.push(',');
            }
            sql.push('(');
            sql.push_str(&self.placeholders(r * cols + 1, cols));
            sql.push(')');
        }
        sql
    }

    /// `INSERT .. ON CONFLICT (target) DO NOTHING` of `rows` rows (no target: a plain insert); on SQLite an
    /// `INSERT OR IGNORE`. A statement of several rows that could fail halfway (a NOT NULL column: SQLite's default
    /// ABORT) makes SQLite copy every page it changes to a statement journal first, to undo the rows written before
    /// the failing one. With IGNORE nothing can fail halfway. The callers bind every NOT NULL column from a value
    /// that cannot be NULL, so IGNORE skips no row that `ON CONFLICT` would have stored (and the raw inbox's insert
    /// checks that every row was written).
    pub(crate) fn insert_ignore(
        self,
        table: &str,
        columns: &str,
        rows: usize,
        target: Option<&str>,
    ) -> String {
        let mut sql = self.insert(table, columns, rows);
        if self.0 == Backend::Sqlite {
            sql.replace_range(.."INSERT".len(), "INSERT OR IGNORE");
        }
        if let Some(target) = target {
            sql.push_str(" ON CONFLICT (");
            sql.push_str(target);
            sql.push_str(") DO NOTHING");
        }
        sql
    }

    /// Wraps a `SELECT` of `columns` columns so that its rows come back as one JSON text (an array of arrays, `[]`
    /// when none): many rows cross the driver as one message instead of one each. Read it with [`json_rows`].
    pub(crate) fn json_wrap(self, select: &str, columns: usize) -> String {
        let names: Vec<String> = (0..columns).map(|i| format!("c{i}")).collect();
        let list = names.join(", ");
        format!(
            "WITH t({list}) AS ({select}) SELECT {} FROM t",
            self.json_agg(&list, None)
        )
    }

    /// The aggregate of a query's rows `list` (comma-separated expressions) into one JSON text, in `order` when
    /// given (`[]` when no rows; on SQLite an aggregate is ordered by its input, so `order` goes on the query
    /// that feeds it).
    pub(crate) fn json_agg(self, list: &str, order: Option<&str>) -> String {
        match self.0 {
            Backend::Sqlite => format!("json_group_array(json_array({list}))"),
            Backend::Postgres => format!(
                "CAST(COALESCE(json_agg(json_build_array({list}){}), '[]') AS TEXT)",
                order.map(|o| format!(" ORDER BY {o}")).unwrap_or_default()
            ),
        }
    }

    /// `SELECT (list as JSON) FROM (inner) t`, the rows in `order`: one JSON text for the rows of `inner`.
    pub(crate) fn json_select_ordered(self, list: &str, inner: &str, order: &str) -> String {
        match self.0 {
            Backend::Sqlite => format!(
                "SELECT {} FROM ({inner} ORDER BY {order}) t",
                self.json_agg(list, None)
            ),
            Backend::Postgres => format!(
                "SELECT {} FROM ({inner}) t",
                self.json_agg(list, Some(order))
            ),
        }
    }

    /// A `FROM` item giving the elements of the JSON array bound as parameter `n` as rows `j`, each with the
    /// element as `j.value` (read fields with `j.value ->> k`, text on PostgreSQL: cast numbers) and its position
    /// as `j.key` (order by it to keep the array's order).
    pub(crate) fn json_array_rows(self, n: usize) -> String {
        match self.0 {
            Backend::Sqlite => format!("json_each({}) AS j", self.placeholder(n)),
            Backend::Postgres => format!(
                "json_array_elements(CAST({} AS json)) WITH ORDINALITY AS j(value, key)",
                self.placeholder(n)
            ),
        }
    }

    /// The statement for a multi-row `INSERT .. ON CONFLICT .. DO NOTHING` whose inserted rows
    /// [`Store::inserted`] reads back: on PostgreSQL through `RETURNING`, aggregated into one JSON text; on SQLite
    /// as is (the rows are read after it, by id).
    pub(crate) fn returning(self, insert: String, columns: &str) -> String {
        match self.0 {
            Backend::Sqlite => insert,
            Backend::Postgres => format!(
                "WITH ins AS ({insert} RETURNING {columns}) \
                 SELECT CAST(json_agg(json_build_array({columns})) AS TEXT) FROM ins"
            ),
        }
    }
}

/// Runs a query made with [`Dialect::json_wrap`] and reads its rows.
pub(crate) async fn json_rows<T: serde::de::DeserializeOwned>(
    tx: &mut WriteTx<'_>,
    q: Query<'_>,
) -> anyhow::Result<Vec<T>> {
    let text: Option<String> = q.fetch_one(&mut *tx.tx).await?.try_get(0)?;
    match text {
        Some(t) => serde_json::from_str(&t).context("reading rows"),
        None => Ok(Vec::new()),
    }
}

/// What a multi-row `INSERT .. ON CONFLICT DO NOTHING` inserted.
pub(crate) enum Inserted<T> {
    /// Every row, in the order of its VALUES (on SQLite, with the ids after the mark).
    All,
    /// These rows (columns as asked).
    These(Vec<T>),
}

impl Store {
    /// The largest id of `table` before an insert, where a single writer gives the rows of one statement the ids
    /// after it (0 elsewhere).
    pub(crate) async fn insert_mark(
        &self,
        tx: &mut WriteTx<'_>,
        table: &str,
    ) -> anyhow::Result<i64> {
        if !self.dialect().single_writer() {
            return Ok(0);
        }
        Ok(sqlx::query(&format!(
            "SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM {table}"
        ))
        .fetch_one(&mut *tx.tx)
        .await?
        .try_get(0)?)
    }

    /// Runs an insert of `rows` rows made by [`Dialect::returning`] and tells which rows it inserted: all of
    /// them, or `columns` of those it did, read as one JSON text rather than a row each (each row would cross the
    /// SQLite driver's thread on its own). On SQLite a statement that inserted every row (a fresh import) or none
    /// (the same import again) needs no read: its rows took the ids after `mark` in the order of its VALUES.
    pub(crate) async fn inserted<T: serde::de::DeserializeOwned>(
        &self,
        tx: &mut WriteTx<'_>,
        q: Query<'_>,
        (table, columns, rows): (&str, &str, usize),
        mark: i64,
    ) -> anyhow::Result<Inserted<T>> {
        let text: Option<String> = match self.backend() {
            Backend::Sqlite => {
                let done = q.execute(&mut *tx.tx).await?.rows_affected();
                if done == rows as u64 {
                    return Ok(Inserted::All);
                }
                if done == 0 {
                    return Ok(Inserted::These(Vec::new()));
                }
                sqlx::query(&format!(
                    "SELECT json_group_array(json_array({columns})) FROM {table} WHERE id > ?"
                ))
                .bind(mark)
                .fetch_one(&mut *tx.tx)
                .await?
                .try_get(0)?
            }
            Backend::Postgres => q.fetch_one(&mut *tx.tx).await?.try_get(0)?,
        };
        Ok(Inserted::These(match text {
            Some(t) => serde_json::from_str(&t).context("reading inserted rows")?,
            None => Vec::new(),
        }))
    }
}

/// What reconcile's loading and writing need beyond the primitives above.
impl Dialect {
    /// Field `i` of a [`Dialect::json_array_rows`] row, as an integer.
    pub(crate) fn json_int(self, i: usize) -> String {
        match self.0 {
            Backend::Sqlite => format!("j.value ->> {i}"),
            Backend::Postgres => format!("CAST(j.value ->> {i} AS BIGINT)"),
        }
    }

    /// Field `i` of a [`Dialect::json_array_rows`] row, as text (the same on both).
    pub(crate) fn json_text(i: usize) -> String {
        format!("j.value ->> {i}")
    }

    /// The integers of a JSON array bound as parameter `n`, as a subquery (for `IN (..)`).
    pub(crate) fn json_ints(self, n: usize) -> String {
        match self.0 {
            Backend::Sqlite => "SELECT j.value FROM json_each(?) AS j".to_string(),
            Backend::Postgres => format!(
                "SELECT CAST(j.value AS BIGINT) FROM json_array_elements_text(CAST(${n} AS json)) AS j(value)"
            ),
        }
    }

    /// An aggregate of the single expression `expr` over the rows into one JSON array text (`[]` when there are
    /// none); [`Dialect::json_agg`] aggregates rows of several columns as arrays.
    pub(crate) fn json_agg_values(self, expr: &str) -> String {
        match self.0 {
            Backend::Sqlite => format!("json_group_array({expr})"),
            Backend::Postgres => format!("CAST(COALESCE(json_agg({expr}), '[]') AS TEXT)"),
        }
    }

    /// Statements that switch foreign-key checks off and back on for one connection, where the backend checks
    /// them row by row as it writes (SQLite); `None` where there is nothing to gain.
    pub(crate) fn unchecked_foreign_keys(self) -> Option<(&'static str, &'static str)> {
        match self.0 {
            Backend::Sqlite => Some(("PRAGMA foreign_keys = OFF", "PRAGMA foreign_keys = ON")),
            Backend::Postgres => None,
        }
    }

    /// A statement that grows the connection's page cache for a large write transaction, where the backend has
    /// one per connection (SQLite); [`Dialect::normal_write_cache`] sets it back.
    pub(crate) fn large_write_cache(self) -> Option<&'static str> {
        match self.0 {
            Backend::Sqlite => Some("PRAGMA cache_size = -131072"),
            Backend::Postgres => None,
        }
    }

    /// The connection's page cache back to the pool's size (see [`Dialect::large_write_cache`]).
    pub(crate) fn normal_write_cache(self) -> Option<&'static str> {
        match self.0 {
            Backend::Sqlite => Some(super::SQLITE_CACHE_PRAGMA),
            Backend::Postgres => None,
        }
    }
}
