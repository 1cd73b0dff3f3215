//! The customer master as sources deliver it: one row per customer identity (`customer_key`), changed only when
//! its content changed, with the aliases it gives (accounts, payment reference, RFC) and an audit entry each time.

use super::bind::{bind_customer, customer_column_is_int, customer_values, CUSTOMER_COLUMNS};
use super::dialect::json_rows;
use super::ingest::normalize_account;
use super::row::RowExt;
use super::{Store, WriteTx};
use anyhow::Context;
use cuadra_sdk::CustomerRecord;
use std::collections::HashMap;

impl Store {
    /// A customer master: the same outcome as [`Store::upsert_customer`] row by row, with the new customers, their
    /// audit entries and their aliases written a few thousand at a time from one JSON array each (rather than six
    /// statements per customer). Customers whose content changed, and a customer's second row in one file, take
    /// the row-by-row path.
    pub(super) async fn upsert_customers_bulk(
        &self,
        tx: &mut WriteTx<'_>,
        source: &str,
        cs: &[&CustomerRecord],
    ) -> anyhow::Result<bool> {
        const ROWS: usize = 2000;
        let sql = self.dialect();
        let prepared: Vec<(String, String, &CustomerRecord)> = cs
            .iter()
            .map(|c| Ok((customer_key(c), content_hash(c)?, *c)))
            .collect::<anyhow::Result<_>>()?;
        // A customer named again later in the file updates the first row, as row by row: after the others.
        let mut seen: std::collections::HashSet<&str> = Default::default();
        let (mut firsts, mut repeats) = (Vec::new(), Vec::new());
        for p in &prepared {
            if seen.insert(p.0.as_str()) {
                firsts.push(p);
            } else {
                repeats.push(p.2);
            }
        }
        let mut changed = false;
        let now = self.now_text();
        // (key, id, content hash) of the stored customers among `keys`.
        let ids_sql = sql.json_wrap(
            &format!(
                "SELECT customer_key, id, content_hash FROM customers \
                 WHERE customer_key IN (SELECT j.value ->> 0 FROM {})",
                sql.json_array_rows(1)
            ),
            3,
        );
        let keys_of = |keys: Vec<&String>| {
            serde_json::to_string(&keys.into_iter().map(|k| [k]).collect::<Vec<_>>())
        };
        // One JSON array per new customer: its key, its columns, its audit entry's detail.
        let fields = CUSTOMER_COLUMNS.len();
        let values: Vec<String> = CUSTOMER_COLUMNS
            .iter()
            .enumerate()
            .map(|(k, column)| {
                let field = format!("j.value ->> {}", k + 1);
                if customer_column_is_int(column) {
                    format!("CAST({field} AS BIGINT)")
                } else {
                    field
                }
            })
            .collect();
        let insert_customers = format!(
            "INSERT INTO customers (customer_key, {}, created_at, updated_at) \
             SELECT j.value ->> 0, {}, {}, {} FROM {} ORDER BY j.key",
            CUSTOMER_COLUMNS.join(", "),
            values.join(", "),
            sql.placeholder(1),
            sql.placeholder(2),
            sql.json_array_rows(3)
        );
        let insert_audit = format!(
            "INSERT INTO audit_log (at, actor, action, entity, entity_id, detail) \
             SELECT {}, {}, 'create', 'customer', j.value ->> 0, j.value ->> {} FROM {} ORDER BY j.key",
            sql.placeholder(1),
            sql.placeholder(2),
            fields + 1,
            sql.json_array_rows(3)
        );
        let insert_aliases = format!(
            "INSERT INTO customer_aliases (customer_id, kind, value, source, created_at) \
             SELECT CAST(j.value ->> 0 AS BIGINT), j.value ->> 1, j.value ->> 2, 'import', {} FROM {} \
             WHERE true ORDER BY j.key ON CONFLICT (kind, value, customer_id) DO NOTHING",
            sql.placeholder(1),
            sql.json_array_rows(2)
        );
        for chunk in firsts.chunks(ROWS) {
            let keys = keys_of(chunk.iter().map(|(k, _, _)| k).collect())?;
            let existing: HashMap<String, (i64, String)> =
                json_rows::<(String, i64, String)>(tx, sqlx::query(&ids_sql).bind(keys))
                    .await?
                    .into_iter()
                    .map(|(k, id, h)| (k, (id, h)))
                    .collect();
            let mut new = Vec::new();
            for (key, hash, c) in chunk {
                match existing.get(key) {
                    Some((_, old)) if old == hash => {}
                    Some(_) => changed |= self.upsert_customer(tx, source, c).await?,
                    None => new.push((key, hash, *c)),
                }
            }
            if new.is_empty() {
                continue;
            }
            changed = true;
            let mut rows = Vec::with_capacity(new.len());
            for (key, hash, c) in &new {
                let mut row = vec![serde_json::Value::String(key.to_string())];
                row.extend(customer_values(c, hash)?);
                row.push(serde_json::json!({"hash": hash}).to_string().into());
                rows.push(row);
            }
            let rows = serde_json::to_string(&rows)?;
            sqlx::query(&insert_customers)
                .bind(&now)
                .bind(&now)
                .bind(&rows)
                .execute(&mut *tx.tx)
                .await
                .context("storing customers")?;
            sqlx::query(&insert_audit)
                .bind(&now)
                .bind(source)
                .bind(&rows)
                .execute(&mut *tx.tx)
                .await
                .context("writing the audit log")?;
            let keys = keys_of(new.iter().map(|(k, _, _)| *k).collect())?;
            let ids: HashMap<String, i64> =
                json_rows::<(String, i64, String)>(tx, sqlx::query(&ids_sql).bind(keys))
                    .await?
                    .into_iter()
                    .map(|(k, id, _)| (k, id))
                    .collect();
            let mut aliases = Vec::new();
            for (key, _, c) in &new {
                let id = ids[key.as_str()];
                aliases.extend(
                    import_aliases(c)
                        .into_iter()
                        .map(|(kind, value)| (id, kind, value)),
                );
            }
            sqlx::query(&insert_aliases)
                .bind(&now)
                .bind(serde_json::to_string(&aliases)?)
                .execute(&mut *tx.tx)
                .await
                .context("storing customer aliases")?;
        }
        for c in repeats {
            changed |= self.upsert_customer(tx, source, c).await?;
        }
        Ok(changed)
    }

    /// Stores one customer master row; returns whether the ledger changed.
    pub(super) async fn upsert_customer(
        &self,
        tx: &mut WriteTx<'_>,
        source: &str,
        c: &CustomerRecord,
    ) -> anyhow::Result<bool> {
        let key = customer_key(c);
        let hash = content_hash(c)?;
        let existing =
            sqlx::query("SELECT id, content_hash FROM customers WHERE customer_key = $1")
                .bind(&key)
                .fetch_optional(&mut *tx.tx)
                .await?;
        let now = self.now_text();
        let n = CUSTOMER_COLUMNS.len();
        let id: i64 = match existing {
            Some(row) => {
                let old = row.text("content_hash")?;
                let id = row.int("id")?;
                if old == hash {
                    return Ok(false);
                }
                let set: Vec<String> = CUSTOMER_COLUMNS
                    .iter()
                    .enumerate()
                    .map(|(k, column)| format!("{column}=${}", k + 1))
                    .collect();
                let sql = format!(
                    "UPDATE customers SET {}, updated_at=${} WHERE id=${}",
                    set.join(", "),
                    n + 1,
                    n + 2
                );
                bind_customer(sqlx::query(&sql), c, &hash)?
                    .bind(&now)
                    .bind(id)
                    .execute(&mut *tx.tx)
                    .await?;
                sqlx::query(
                    "DELETE FROM customer_aliases WHERE customer_id = $1 AND source = 'import'",
                )
                .bind(id)
                .execute(&mut *tx.tx)
                .await?;
                self.audit(
                    tx,
                    source,
                    "update",
                    "customer",
                    &key,
                    serde_json::json!({"hash": hash}),
                )
                .await?;
                id
            }
            None => {
                let values: Vec<String> = (2..n + 2).map(|k| format!("${k}")).collect();
                let sql = format!(
                    "INSERT INTO customers (customer_key, {}, created_at, updated_at) \
                     VALUES ($1,{},${},${}) RETURNING id",
                    CUSTOMER_COLUMNS.join(", "),
                    values.join(","),
                    n + 2,
                    n + 2
                );
                let row = bind_customer(sqlx::query(&sql).bind(&key), c, &hash)?
                    .bind(&now)
                    .fetch_one(&mut *tx.tx)
                    .await?;
                self.audit(
                    tx,
                    source,
                    "create",
                    "customer",
                    &key,
                    serde_json::json!({"hash": hash}),
                )
                .await?;
                row.int("id")?
            }
        };
        for (kind, value) in import_aliases(c) {
            sqlx::query(
                "INSERT INTO customer_aliases (customer_id, kind, value, source, created_at) \
                 VALUES ($1,$2,$3,'import',$4) ON CONFLICT (kind, value, customer_id) DO NOTHING",
            )
            .bind(id)
            .bind(kind)
            .bind(value)
            .bind(&now)
            .execute(&mut *tx.tx)
            .await?;
        }
        Ok(true)
    }
}

/// What tells a customer master row changed: the SHA-256 of the record as JSON.
fn content_hash(c: &CustomerRecord) -> anyhow::Result<String> {
    Ok(cuadra_sdk::sha256_hex(serde_json::to_string(c)?.as_bytes()))
}

/// The aliases a customer master row gives its customer: accounts, payment reference, RFC, corporate group.
fn import_aliases(c: &CustomerRecord) -> Vec<(&'static str, String)> {
    let mut aliases: Vec<(&'static str, String)> = c
        .accounts
        .iter()
        .map(|a| ("account", normalize_account(a)))
        .collect();
    if let Some(r) = &c.payment_reference {
        aliases.push(("reference", r.trim().to_string()));
    }
    if let Some(r) = &c.rfc {
        aliases.push(("rfc", r.to_string()));
    }
    if let Some(g) = c.group.as_deref().map(str::trim).filter(|g| !g.is_empty()) {
        aliases.push(("group", g.to_string()));
    }
    aliases
}

/// The identity of a customer in the master: its RFC, except for the generic RFCs that many customers share.
pub fn customer_key(c: &CustomerRecord) -> String {
    match &c.rfc {
        Some(r) if !r.is_generic() => r.to_string(),
        Some(r) => format!(
            "{}:{}",
            r,
            c.erp_id
                .clone()
                .unwrap_or_else(|| c.name.trim().to_uppercase())
        ),
        None => format!(
            "name:{}",
            c.erp_id
                .clone()
                .unwrap_or_else(|| c.name.trim().to_uppercase())
        ),
    }
}
