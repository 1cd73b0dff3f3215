//! The few SQL primitives that differ between SQLite and PostgreSQL. Domain code (ingest, links, outbox, reports,
//! reconcile's loading and writing) builds its statements from these and never branches on the backend itself.

// --- reconcile's loading and writing ---

/// The rows of a JSON array of arrays bound as parameter `n`, as a `FROM` item `j`: `j.value` is one row (read
/// its fields with [`json_int`] and [`json_text`]), `j.key` its position in the array.
pub(crate) fn json_rows(backend: super::Backend, n: usize) -> String {
    match backend {
        super::Backend::Sqlite => "json_each(?) AS j".to_string(),
        super::Backend::Postgres => {
            format!("json_array_elements(CAST(${n} AS json)) WITH ORDINALITY AS j(value, key)")
        }
    }
}

/// Field `i` of a [`json_rows`] row, as an integer.
pub(crate) fn json_int(backend: super::Backend, i: usize) -> String {
    match backend {
        super::Backend::Sqlite => format!("j.value ->> {i}"),
        super::Backend::Postgres => format!("CAST(j.value ->> {i} AS BIGINT)"),
    }
}

/// Field `i` of a [`json_rows`] row, as text (the same on both).
pub(crate) fn json_text(i: usize) -> String {
    format!("j.value ->> {i}")
}

/// The integers of a JSON array bound as parameter `n`, as a subquery (for `IN (..)`).
pub(crate) fn json_ints(backend: super::Backend, n: usize) -> String {
    match backend {
        super::Backend::Sqlite => "SELECT j.value FROM json_each(?) AS j".to_string(),
        super::Backend::Postgres => format!(
            "SELECT CAST(j.value AS BIGINT) FROM json_array_elements_text(CAST(${n} AS json)) AS j(value)"
        ),
    }
}

/// An aggregate of `expr` over the rows into one JSON array text (`[]` when there are none).
pub(crate) fn json_agg(backend: super::Backend, expr: &str) -> String {
    match backend {
        super::Backend::Sqlite => format!("json_group_array({expr})"),
        super::Backend::Postgres => format!("CAST(COALESCE(json_agg({expr}), '[]') AS TEXT)"),
    }
}

/// A `SELECT` of one JSON text: the rows of the query `inner` as arrays of its columns `list`, ordered by `order`.
pub(crate) fn json_array_of_rows(
    backend: super::Backend,
    list: &str,
    inner: &str,
    order: &str,
) -> String {
    match backend {
        super::Backend::Sqlite => format!(
            "SELECT json_group_array(json_array({list})) FROM ({inner} ORDER BY {order}) t"
        ),
        super::Backend::Postgres => format!(
            "SELECT CAST(COALESCE(json_agg(json_build_array({list}) ORDER BY {order}), '[]') AS TEXT) FROM ({inner}) t"
        ),
    }
}

/// Statements that switch foreign-key checks off and back on for one connection, where the backend checks them
/// row by row as it writes (SQLite); `None` where there is nothing to gain.
pub(crate) fn unchecked_foreign_keys(
    backend: super::Backend,
) -> Option<(&'static str, &'static str)> {
    match backend {
        super::Backend::Sqlite => Some(("PRAGMA foreign_keys = OFF", "PRAGMA foreign_keys = ON")),
        super::Backend::Postgres => None,
    }
}

/// A statement that grows the connection's page cache for a large write transaction, where the backend has one
/// per connection (SQLite); [`normal_write_cache`] sets it back.
pub(crate) fn large_write_cache(backend: super::Backend) -> Option<&'static str> {
    match backend {
        super::Backend::Sqlite => Some("PRAGMA cache_size = -131072"),
        super::Backend::Postgres => None,
    }
}

/// The connection's page cache back to the pool's size (see [`large_write_cache`]).
pub(crate) fn normal_write_cache(backend: super::Backend) -> Option<&'static str> {
    match backend {
        super::Backend::Sqlite => Some(super::SQLITE_CACHE_PRAGMA),
        super::Backend::Postgres => None,
    }
}
