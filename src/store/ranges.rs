//! Reading a large table in key ranges, each range's rows aggregated by the database into one JSON text: a
//! million rows cross the driver as a few hundred messages instead of a million (each of which wakes a thread).

use super::Store;
use anyhow::Context;

/// Keys per range, and ranges read at once.
const RANGE_KEYS: i64 = 4000;
const RANGES_IN_FLIGHT: usize = 3;

impl Store {
    /// Reads `SELECT key, columns FROM table alias WHERE condition` in key order, in ranges of a few thousand keys.
    /// Ranges are independent, so a few are read and parsed at once (the database produces the next while this
    /// side parses the last); `each` still sees the rows in key order. `key` is the table's integer primary key as
    /// `alias.column`; `from_where` is `table alias [JOIN ..] WHERE condition`.
    pub(crate) async fn read_ranges<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        key: &str,
        columns: &[&str],
        from_where: &str,
        mut each: impl FnMut(T),
    ) -> anyhow::Result<()> {
        let sql = self.dialect();
        let names: Vec<String> = (0..=columns.len()).map(|i| format!("c{i}")).collect();
        let mut inner = format!("SELECT {key} AS c0");
        for (i, c) in columns.iter().enumerate() {
            inner.push_str(&format!(", {c} AS c{}", i + 1));
        }
        inner.push_str(&format!(
            " FROM {from_where} AND {key} > {} AND {key} <= {}",
            sql.placeholder(1),
            sql.placeholder(2)
        ));
        let sql = std::sync::Arc::new(sql.json_select_ordered(&names.join(", "), &inner, "c0"));
        let table = from_where.split_whitespace().next().unwrap_or_default();
        let column = key.rsplit('.').next().unwrap_or(key);
        let (lo, hi): (Option<i64>, Option<i64>) =
            sqlx::query_as(&format!("SELECT MIN({column}), MAX({column}) FROM {table}"))
                .fetch_one(self.pool())
                .await?;
        let (Some(lo), Some(hi)) = (lo, hi) else {
            return Ok(());
        };
        let mut pending = std::collections::VecDeque::new();
        let mut from = lo - 1;
        loop {
            while from < hi && pending.len() < RANGES_IN_FLIGHT {
                let to = from.saturating_add(RANGE_KEYS).min(hi);
                let (pool, sql) = (self.pool().clone(), sql.clone());
                pending.push_back(tokio::spawn(async move {
                    let text: String = sqlx::query_scalar(&sql)
                        .bind(from)
                        .bind(to)
                        .fetch_one(&pool)
                        .await?;
                    let rows: Vec<T> =
                        serde_json::from_str(&text).context("reading a range of rows")?;
                    anyhow::Ok(rows)
                }));
                from = to;
            }
            let Some(next) = pending.pop_front() else {
                return Ok(());
            };
            next.await
                .context("a range reader panicked")??
                .into_iter()
                .for_each(&mut each);
        }
    }
}
