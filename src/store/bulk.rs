//! The batched ingest path: a batch of deliveries whose records are all plain inserts (stamped CFDI invoices,
//! credit notes, payments, documents seen) is stored with a few multi-row statements per hundred deliveries
//! instead of three or four statements per delivery. Same outcomes, same rows and the same conflict rules as
//! storing the deliveries one by one in arrival order (`tests/it/store.rs` compares both); anything else (ERP
//! invoices, customers, SAT status, invoices that may merge into an ERP row) takes the one-by-one path.

use super::ingest::delivery_is_document;
use super::{ts, Store, WriteTx};
use anyhow::Context;
use cuadra_sdk::{
    to_micros, CreditRecord, Delivery, InvoiceRecord, PaymentKind, PaymentRecord, Record,
};
use sqlx::Row;
use std::collections::{HashMap, HashSet, VecDeque};

use super::ingest::{normalize_account, IngestOutcome};

pub(crate) type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Columns of the row inserts shared by both paths.
pub(crate) const RAW_COLUMNS: &str =
    "source, kind, external_id, sha256, body, received_at, encoding, dict_id";
pub(crate) const INVOICE_COLUMNS: &str = "uuid, serie, folio, issuer_rfc, customer_rfc, customer_name, issued_at, \
     issued_on, due_on, due_source, currency, total_micros, subtotal_micros, exchange_rate, payment_method, \
     payment_form, version, erp_id, erp_residual_micros, replaces, raw_id, created_at, updated_at";
pub(crate) const CREDIT_COLUMNS: &str =
    "uuid, serie, folio, issuer_rfc, customer_rfc, issued_at, currency, \
     total_micros, exchange_rate, relation_type, applies_to, version, raw_id, created_at";
pub(crate) const PAYMENT_COLUMNS: &str = "source, kind, external_id, own_account, booked_on, value_date, currency, \
     amount_micros, bank_reference, clave_rastreo, payer_name, payer_rfc, payer_account, referencia_numerica, \
     concepto, document_id, operation_number, customer_hint, status, remittance, raw_id, created_at";

/// Parameters per multi-row statement: far below both backends' limits, and small enough that SQLite's lookup
/// of numbered parameters stays cheap.
const PARAMS_PER_STATEMENT: usize = 960;

/// Parameter `n` (1-based) of a statement: numbered for PostgreSQL; anonymous and bound in order for SQLite,
/// which looks numbered parameters up by a linear scan (costs that grow with the square of a statement's size).
pub(crate) fn placeholder(backend: super::Backend, n: usize) -> String {
    match backend {
        super::Backend::Sqlite => "?".to_string(),
        super::Backend::Postgres => format!("${n}"),
    }
}

/// `n` parameters numbered from `first`, comma-separated (an `IN` list or a row of values).
pub(crate) fn placeholders(backend: super::Backend, first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| placeholder(backend, i))
        .collect::<Vec<_>>()
        .join(",")
}

/// `INSERT INTO table (columns) VALUES ($1,..),(..)` for `rows` rows.
pub(crate) fn insert_sql(
    backend: super::Backend,
    table: &str,
    columns: &str,
    rows: usize,
) -> String {
    let cols = columns.split(',').count();
    let mut sql = format!("INSERT INTO {table} ({columns}) VALUES ");
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        sql.push_str(&placeholders(backend, r * cols + 1, cols));
        sql.push(')');
    }
    sql
}

/// `INSERT .. ON CONFLICT (target) DO NOTHING` of `rows` rows (no target: a plain insert); on SQLite an
/// `INSERT OR IGNORE`. A statement of several rows that could fail halfway (a NOT NULL column: SQLite's default
/// ABORT) makes SQLite copy every page it changes to a statement journal first, to undo the rows written before
/// the failing one: an eighth of a bulk import's writer time. With IGNORE nothing can fail halfway. The callers
/// bind every NOT NULL column from a value that cannot be NULL, so IGNORE skips no row that `ON CONFLICT` would
/// have stored (and the raw inbox's insert checks that every row was written).
pub(crate) fn insert_ignore_sql(
    backend: super::Backend,
    table: &str,
    columns: &str,
    rows: usize,
    target: Option<&str>,
) -> String {
    let mut sql = insert_sql(backend, table, columns, rows);
    if backend == super::Backend::Sqlite {
        sql.replace_range(.."INSERT".len(), "INSERT OR IGNORE");
    }
    if let Some(target) = target {
        sql.push_str(" ON CONFLICT (");
        sql.push_str(target);
        sql.push_str(") DO NOTHING");
    }
    sql
}

fn rows_per_statement(columns: &str) -> usize {
    (PARAMS_PER_STATEMENT / columns.split(',').count()).max(1)
}

pub(crate) fn bind_invoice<'q>(
    q: Query<'q>,
    i: &InvoiceRecord,
    issued_on: String,
    raw_id: i64,
    now: &str,
) -> anyhow::Result<Query<'q>> {
    let from_erp = i.version == "erp";
    let replaces: Vec<&str> = i.replaces.iter().map(|u| u.as_str()).collect();
    Ok(q.bind(i.uuid.as_ref().map(|u| u.to_string()))
        .bind(i.serie.clone())
        .bind(i.folio.clone())
        .bind(i.issuer_rfc.as_ref().map(|r| r.to_string()))
        .bind(i.customer_rfc.as_ref().map(|r| r.to_string()))
        .bind(i.customer_name.clone())
        .bind(ts(i.issued_at))
        .bind(issued_on)
        .bind(i.due_at.map(|d| d.to_string()))
        .bind(i.due_at.map(|_| if from_erp { "erp" } else { "source" }))
        .bind(i.total.currency().to_string())
        .bind(i.total.to_micros()?)
        .bind(i.subtotal.map(to_micros).transpose()?)
        .bind(i.exchange_rate.map(|x| x.to_string()))
        .bind(i.payment_method.map(|m| format!("{m:?}").to_uppercase()))
        .bind(i.payment_form.clone())
        .bind(i.version.clone())
        .bind(i.erp_id.clone())
        .bind(i.erp_residual.map(to_micros).transpose()?)
        .bind(serde_json::to_string(&replaces)?)
        .bind(raw_id)
        .bind(now.to_string())
        .bind(now.to_string()))
}

pub(crate) fn bind_credit<'q>(
    q: Query<'q>,
    c: &CreditRecord,
    raw_id: i64,
    now: &str,
) -> anyhow::Result<Query<'q>> {
    let applies: Vec<&str> = c.applies_to.iter().map(|u| u.as_str()).collect();
    Ok(q.bind(c.uuid.as_str().to_string())
        .bind(c.serie.clone())
        .bind(c.folio.clone())
        .bind(c.issuer_rfc.as_ref().map(|x| x.to_string()))
        .bind(c.customer_rfc.as_ref().map(|x| x.to_string()))
        .bind(ts(c.issued_at))
        .bind(c.total.currency().to_string())
        .bind(c.total.to_micros()?)
        .bind(c.exchange_rate.map(|x| x.to_string()))
        .bind(c.relation_type.clone())
        .bind(serde_json::to_string(&applies)?)
        .bind(c.version.clone())
        .bind(raw_id)
        .bind(now.to_string()))
}

pub(crate) fn bind_payment<'q>(
    q: Query<'q>,
    source: &str,
    p: &PaymentRecord,
    raw_id: i64,
    now: &str,
) -> anyhow::Result<Query<'q>> {
    Ok(q.bind(source.to_string())
        .bind(p.kind.as_str().to_string())
        .bind(p.external_id.clone())
        .bind(p.own_account.clone())
        .bind(p.booked_on.to_string())
        .bind(p.value_date.map(|d| d.to_string()))
        .bind(p.amount.currency().to_string())
        .bind(p.amount.to_micros()?)
        .bind(p.bank_reference.clone())
        .bind(p.clave_rastreo.clone())
        .bind(p.payer_name.clone())
        .bind(p.payer_rfc.clone())
        .bind(p.payer_account.as_deref().map(normalize_account))
        .bind(p.referencia_numerica.clone())
        .bind(p.concepto.clone())
        .bind(p.document_id.clone().map(|d| {
            if p.kind == PaymentKind::Rep {
                d.to_lowercase()
            } else {
                d
            }
        }))
        .bind(p.operation_number.clone())
        .bind(p.customer_hint.clone())
        .bind(p.status.clone())
        .bind(serde_json::to_string(&p.remittance)?)
        .bind(raw_id)
        .bind(now.to_string()))
}

/// Wraps a `SELECT` of `columns` columns so that its rows come back as one JSON text (an array of arrays, `[]`
/// when none): many rows cross the driver as one message instead of one each. Read it with [`json_rows`].
pub(crate) fn json_wrap(backend: super::Backend, select: &str, columns: usize) -> String {
    let names: Vec<String> = (0..columns).map(|i| format!("c{i}")).collect();
    let (names, list) = (names.join(", "), names.join(", "));
    match backend {
        super::Backend::Sqlite => {
            format!(
                "WITH t({names}) AS ({select}) SELECT json_group_array(json_array({list})) FROM t"
            )
        }
        super::Backend::Postgres => format!(
            "WITH t({names}) AS ({select}) \
             SELECT CAST(COALESCE(json_agg(json_build_array({list})), '[]') AS TEXT) FROM t"
        ),
    }
}

/// Runs a query made with [`json_wrap`] and reads its rows.
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

/// What steps 1 and 2 of [`Store::ingest_batch`] tell: each delivery's new raw id (`None`: stored already), and
/// the first raw id of document identities (see there).
type RawsStored = (Vec<Option<i64>>, HashMap<(String, String), i64>);

/// Whether a record can be stored by a plain insert (see the module documentation).
fn plain(r: &Record) -> bool {
    match r {
        Record::Invoice(i) => i.uuid.is_some() && i.version != "erp",
        Record::Credit(_) | Record::Payment(_) | Record::Seen(_) => true,
        _ => false,
    }
}

/// What a multi-row `INSERT .. ON CONFLICT DO NOTHING` inserted.
enum Inserted<T> {
    /// Every row, in the order of its VALUES (on SQLite, with the ids after the mark).
    All,
    /// These rows (columns as asked).
    These(Vec<T>),
}

impl<T> Inserted<T> {
    /// Which of a statement's `n` rows were inserted, by position, each with its row when it was read back.
    /// `key(position)` and `row_key(row)` name a row the same way.
    fn positions<K: std::hash::Hash + Eq>(
        self,
        n: usize,
        key: impl Fn(usize) -> K,
        row_key: impl Fn(&T) -> K,
    ) -> Vec<(usize, Option<T>)> {
        match self {
            Inserted::All => (0..n).map(|p| (p, None)).collect(),
            Inserted::These(rows) => {
                let mut claims = Claims::new();
                for p in 0..n {
                    claims.wait(key(p), p);
                }
                rows.into_iter()
                    .filter_map(|r| claims.take(&row_key(&r)).map(|p| (p, Some(r))))
                    .collect()
            }
        }
    }
}

/// Positions waiting for the row a multi-row `RETURNING` gives back, first come first served (a key twice in one
/// batch: the first delivery inserted it, the second changed nothing, as one by one).
struct Claims<K>(HashMap<K, VecDeque<usize>>);

impl<K: std::hash::Hash + Eq> Claims<K> {
    fn new() -> Self {
        Claims(HashMap::new())
    }
    fn wait(&mut self, key: K, pos: usize) {
        self.0.entry(key).or_default().push_back(pos);
    }
    fn take(&mut self, key: &K) -> Option<usize> {
        self.0.get_mut(key).and_then(|q| q.pop_front())
    }
}

impl Store {
    /// The statement for a multi-row `INSERT .. ON CONFLICT .. DO NOTHING` whose inserted rows [`Store::inserted`]
    /// reads back: on PostgreSQL through `RETURNING`, aggregated into one JSON text; on SQLite as is (the rows are
    /// read after it, by id).
    fn returning_sql(&self, insert: String, columns: &str) -> String {
        match self.backend() {
            super::Backend::Sqlite => insert,
            super::Backend::Postgres => format!(
                "WITH ins AS ({insert} RETURNING {columns}) \
                 SELECT CAST(json_agg(json_build_array({columns})) AS TEXT) FROM ins"
            ),
        }
    }

    /// The largest id of `table` before an insert (SQLite gives the rows of one transaction larger ids).
    async fn insert_mark(&self, tx: &mut WriteTx<'_>, table: &str) -> anyhow::Result<i64> {
        match self.backend() {
            super::Backend::Sqlite => Ok(sqlx::query(&format!(
                "SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM {table}"
            ))
            .fetch_one(&mut *tx.tx)
            .await?
            .try_get(0)?),
            super::Backend::Postgres => Ok(0),
        }
    }

    /// Runs an insert of `rows` rows made by [`Store::returning_sql`] and tells which rows it inserted: all of
    /// them, or `columns` of those it did, read as one JSON text rather than a row each (each row would cross the
    /// SQLite driver's thread on its own). On SQLite a statement that inserted every row (a fresh import) or none
    /// (the same import again) needs no read: its rows took the ids after `mark` in the order of its VALUES.
    async fn inserted<T: serde::de::DeserializeOwned>(
        &self,
        tx: &mut WriteTx<'_>,
        q: Query<'_>,
        (table, columns, rows): (&str, &str, usize),
        mark: i64,
    ) -> anyhow::Result<Inserted<T>> {
        let text: Option<String> = match self.backend() {
            super::Backend::Sqlite => {
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
            super::Backend::Postgres => q.fetch_one(&mut *tx.tx).await?.try_get(0)?,
        };
        Ok(Inserted::These(match text {
            Some(t) => serde_json::from_str(&t).context("reading inserted rows")?,
            None => Vec::new(),
        }))
    }

    /// Stores a batch of deliveries with multi-row statements when every record is a plain insert; `None` (and
    /// nothing written) when the batch needs the one-by-one path.
    pub(crate) async fn ingest_batch(
        &self,
        tx: &mut WriteTx<'_>,
        items: &[(&str, &Delivery)],
        prepacked: &[super::raw::Prepacked],
    ) -> anyhow::Result<Option<Vec<IngestOutcome>>> {
        if items.len() < 2 || !items.iter().all(|(_, d)| d.records.iter().all(plain)) {
            return Ok(None);
        }
        let has_invoices = items
            .iter()
            .any(|(_, d)| d.records.iter().any(|r| matches!(r, Record::Invoice(_))));
        if has_invoices && super::ingest::uuidless_invoices(tx).await? {
            return Ok(None);
        }
        let now = self.now_text();
        let mut outcomes = vec![IngestOutcome::Unchanged; items.len()];

        // 1. The raw bytes; a delivery already stored (or twice in the batch) is unchanged.
        // 2. A document identity stored before with other bytes: the first version is kept, this one is a
        //    conflict for a person (its records are not applied). `first`: the first raw id of identities stored
        //    more than once (or of every identity stored, on SQLite).
        let shas: Vec<String> = (0..items.len())
            .map(|k| super::raw::sha_of(items[k].1, prepacked.get(k)))
            .collect();
        let (raw_ids, first) = match self.backend() {
            super::Backend::Sqlite => {
                self.store_raws_sqlite(tx, items, prepacked, &shas, &now)
                    .await?
            }
            super::Backend::Postgres => {
                self.store_raws_postgres(tx, items, prepacked, &shas, &now)
                    .await?
            }
        };
        let mut apply: Vec<usize> = Vec::with_capacity(items.len());
        for k in 0..items.len() {
            let Some(raw_id) = raw_ids[k] else { continue };
            let (source, d) = items[k];
            if delivery_is_document(d) {
                let kept = first
                    .get(&(d.kind.clone(), d.external_id.clone()))
                    .copied()
                    .unwrap_or(raw_id);
                if kept < raw_id {
                    self.record_conflict(tx, source, d, kept, raw_id).await?;
                    outcomes[k] = IngestOutcome::Conflicting;
                    continue;
                }
            }
            if d.records.is_empty() {
                outcomes[k] = IngestOutcome::New;
            }
            apply.push(k);
        }

        // 3. The records, by table.
        let mut invoices: Vec<(usize, &InvoiceRecord)> = Vec::new();
        let mut credits: Vec<(usize, &CreditRecord)> = Vec::new();
        let mut payments: Vec<(usize, &PaymentRecord)> = Vec::new();
        for &k in &apply {
            for r in &items[k].1.records {
                match r {
                    Record::Invoice(i) => invoices.push((k, i)),
                    Record::Credit(c) => credits.push((k, c)),
                    Record::Payment(p) => payments.push((k, p)),
                    Record::Seen(_) => outcomes[k] = IngestOutcome::New,
                    _ => unreachable!("checked by plain()"),
                }
            }
        }
        let tz = self.timezone();
        let per = rows_per_statement(INVOICE_COLUMNS);
        for chunk in invoices.chunks(per) {
            let sql = self.returning_sql(
                insert_ignore_sql(
                    self.backend(),
                    "invoices",
                    INVOICE_COLUMNS,
                    chunk.len(),
                    Some("uuid"),
                ),
                "uuid",
            );
            let mark = self.insert_mark(tx, "invoices").await?;
            let mut q = sqlx::query(&sql);
            for (k, i) in chunk {
                let issued_on = i.issued_at.with_timezone(&tz).date_naive().to_string();
                q = bind_invoice(q, i, issued_on, raw_ids[*k].unwrap_or_default(), &now)?;
            }
            let rows: Inserted<(String,)> = self
                .inserted(tx, q, ("invoices", "uuid", chunk.len()), mark)
                .await
                .context("storing invoices")?;
            let mut inserted = vec![false; chunk.len()];
            let key = |n: usize| {
                let uuid = chunk[n].1.uuid.as_ref();
                uuid.map(|u| u.to_string()).unwrap_or_default()
            };
            for (n, _) in rows.positions(chunk.len(), key, |r| r.0.clone()) {
                inserted[n] = true;
            }
            for (n, (k, i)) in chunk.iter().enumerate() {
                if inserted[n] {
                    outcomes[*k] = IngestOutcome::New;
                } else if let Some((id, _)) = super::ingest::find_invoice(tx, i).await? {
                    // The UUID is known already: the same merge checks as one by one.
                    self.compare_with_erp(tx, id, raw_ids[*k].unwrap_or_default(), i)
                        .await?;
                }
            }
        }
        let per = rows_per_statement(CREDIT_COLUMNS);
        for chunk in credits.chunks(per) {
            let sql = self.returning_sql(
                insert_ignore_sql(
                    self.backend(),
                    "credits",
                    CREDIT_COLUMNS,
                    chunk.len(),
                    Some("uuid"),
                ),
                "uuid",
            );
            let mark = self.insert_mark(tx, "credits").await?;
            let mut q = sqlx::query(&sql);
            for (k, c) in chunk {
                q = bind_credit(q, c, raw_ids[*k].unwrap_or_default(), &now)?;
            }
            let rows: Inserted<(String,)> = self
                .inserted(tx, q, ("credits", "uuid", chunk.len()), mark)
                .await
                .context("storing credit notes")?;
            let key = |n: usize| chunk[n].1.uuid.as_str().to_string();
            for (n, _) in rows.positions(chunk.len(), key, |r| r.0.clone()) {
                outcomes[chunk[n].0] = IngestOutcome::New;
            }
        }
        let per = rows_per_statement(PAYMENT_COLUMNS);
        for chunk in payments.chunks(per) {
            let sql = self.returning_sql(
                insert_ignore_sql(
                    self.backend(),
                    "payments",
                    PAYMENT_COLUMNS,
                    chunk.len(),
                    Some("kind, external_id"),
                ),
                "kind, external_id",
            );
            let mark = self.insert_mark(tx, "payments").await?;
            let mut q = sqlx::query(&sql);
            for (k, p) in chunk {
                q = bind_payment(q, items[*k].0, p, raw_ids[*k].unwrap_or_default(), &now)?;
            }
            let rows: Inserted<(String, String)> = self
                .inserted(tx, q, ("payments", "kind, external_id", chunk.len()), mark)
                .await
                .context("storing payments")?;
            let key = |n: usize| {
                let p = chunk[n].1;
                (p.kind.as_str().to_string(), p.external_id.clone())
            };
            for (n, _) in rows.positions(chunk.len(), key, |r| r.clone()) {
                outcomes[chunk[n].0] = IngestOutcome::New;
            }
        }
        Ok(Some(outcomes))
    }

    /// The raw bodies of `items[range]`, packed for the raw inbox.
    async fn pack_items(
        &self,
        tx: &mut WriteTx<'_>,
        items: &[(&str, &Delivery)],
        prepacked: &[super::raw::Prepacked],
        range: std::ops::Range<usize>,
    ) -> anyhow::Result<Vec<super::raw::Packed>> {
        let raws: Vec<(&str, &[u8], Option<&super::raw::Prepacked>)> = range
            .map(|k| {
                let d = items[k].1;
                (d.kind.as_str(), d.raw.as_slice(), prepacked.get(k))
            })
            .collect();
        self.pack_bodies(tx, &raws).await
    }

    /// Steps 1 and 2 of [`Store::ingest_batch`] on PostgreSQL: the raw bodies through `INSERT .. ON CONFLICT DO
    /// NOTHING` on the unique (kind, external_id, sha256), then the identities stored more than once.
    async fn store_raws_postgres(
        &self,
        tx: &mut WriteTx<'_>,
        items: &[(&str, &Delivery)],
        prepacked: &[super::raw::Prepacked],
        shas: &[String],
        now: &str,
    ) -> anyhow::Result<RawsStored> {
        let mut raw_ids: Vec<Option<i64>> = vec![None; items.len()];
        let per = rows_per_statement(RAW_COLUMNS);
        for start in (0..items.len()).step_by(per) {
            let end = (start + per).min(items.len());
            const BACK: &str = "id, kind, external_id, sha256";
            let sql = self.returning_sql(
                insert_sql(self.backend(), "raw_inbox", RAW_COLUMNS, end - start)
                    + " ON CONFLICT (kind, external_id, sha256) DO NOTHING",
                BACK,
            );
            let mark = self.insert_mark(tx, "raw_inbox").await?;
            let packed = self.pack_items(tx, items, prepacked, start..end).await?;
            let mut q = sqlx::query(&sql);
            for (k, p) in (start..end).zip(packed) {
                q = bind_raw(q, items[k], &shas[k], p, now);
            }
            let rows: Inserted<(i64, String, String, String)> = self
                .inserted(tx, q, ("raw_inbox", BACK, end - start), mark)
                .await
                .context("storing raw deliveries")?;
            let key = |p: usize| {
                let d = items[start + p].1;
                (
                    d.kind.clone(),
                    d.external_id.clone(),
                    shas[start + p].clone(),
                )
            };
            let row_key =
                |r: &(i64, String, String, String)| (r.1.clone(), r.2.clone(), r.3.clone());
            for (p, row) in rows.positions(end - start, key, row_key) {
                raw_ids[start + p] = Some(row.map_or(mark + 1 + p as i64, |r| r.0));
            }
        }

        // 2. A document identity stored before with other bytes: the first version is kept, this one is a
        //    conflict for a person (its records are not applied).
        let docs: Vec<usize> = (0..items.len())
            .filter(|&k| raw_ids[k].is_some() && delivery_is_document(items[k].1))
            .collect();
        // Only identities stored more than once come back (rare), so few rows cross the driver.
        let mut first: HashMap<(String, String), i64> = HashMap::new();
        let mut by_kind: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for &k in &docs {
            by_kind
                .entry(items[k].1.kind.as_str())
                .or_default()
                .push(items[k].1.external_id.as_str());
        }
        for (kind, ids) in by_kind {
            // One index look-up each: a long IN list can get a sequential-scan plan on PostgreSQL while the
            // table's statistics still describe it as small (a bulk import that has just begun).
            for id in ids {
                let row = sqlx::query(
                    "SELECT MIN(id), COUNT(*) FROM raw_inbox WHERE kind = $1 AND external_id = $2",
                )
                .bind(kind.to_string())
                .bind(id.to_string())
                .fetch_one(&mut *tx.tx)
                .await?;
                if row.try_get::<i64, _>(1)? > 1 {
                    first.insert((kind.to_string(), id.to_string()), row.try_get(0)?);
                }
            }
        }
        Ok((raw_ids, first))
    }

    /// Steps 1 and 2 of [`Store::ingest_batch`] on SQLite, which has no unique index on the raw inbox (see
    /// `migrations/sqlite/0005_raw_inbox_key.sql`): one look-up of the deliveries stored with the batch's
    /// external ids (none in a fresh import) tells which bodies are stored already and the first raw id of every
    /// identity; the others are inserted, and take the ids after the largest one in the order of their VALUES.
    async fn store_raws_sqlite(
        &self,
        tx: &mut WriteTx<'_>,
        items: &[(&str, &Delivery)],
        prepacked: &[super::raw::Prepacked],
        shas: &[String],
        now: &str,
    ) -> anyhow::Result<RawsStored> {
        let mut ids: Vec<&str> = items.iter().map(|(_, d)| d.external_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut stored: HashSet<(&str, &str, &str)> = HashSet::new();
        let mut first: HashMap<(String, String), i64> = HashMap::new();
        let mut rows: Vec<(i64, String, String, String)> = Vec::new();
        for chunk in ids.chunks(PARAMS_PER_STATEMENT) {
            let sql = format!(
                "SELECT json_group_array(json_array(id, kind, external_id, sha256)) FROM raw_inbox \
                 WHERE external_id IN ({})",
                placeholders(self.backend(), 1, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(id.to_string());
            }
            let text: Option<String> = q.fetch_one(&mut *tx.tx).await?.try_get(0)?;
            if let Some(t) = text {
                rows.extend(
                    serde_json::from_str::<Vec<(i64, String, String, String)>>(&t)
                        .context("reading stored deliveries")?,
                );
            }
        }
        for (id, kind, external_id, _) in &rows {
            let e = first
                .entry((kind.clone(), external_id.clone()))
                .or_insert(*id);
            *e = (*e).min(*id);
        }
        for (_, kind, external_id, sha) in &rows {
            stored.insert((kind, external_id, sha));
        }
        // The deliveries to store, in order (a body twice in the batch: the first one).
        let mut raw_ids: Vec<Option<i64>> = vec![None; items.len()];
        let mark = self.insert_mark(tx, "raw_inbox").await?;
        let mut next = mark;
        for (k, (_, d)) in items.iter().enumerate() {
            if stored.insert((d.kind.as_str(), d.external_id.as_str(), shas[k].as_str())) {
                next += 1;
                raw_ids[k] = Some(next);
                first
                    .entry((d.kind.clone(), d.external_id.clone()))
                    .or_insert(next);
            }
        }
        let per = rows_per_statement(RAW_COLUMNS);
        for start in (0..items.len()).step_by(per) {
            let end = (start + per).min(items.len());
            // Every body is packed, as one by one (a dictionary is made of the second body of an issuer met,
            // stored or not).
            let packed = self.pack_items(tx, items, prepacked, start..end).await?;
            let new = (start..end).filter(|&k| raw_ids[k].is_some()).count();
            if new == 0 {
                continue;
            }
            let sql = insert_ignore_sql(self.backend(), "raw_inbox", RAW_COLUMNS, new, None);
            let mut q = sqlx::query(&sql);
            for (k, p) in (start..end).zip(packed) {
                if raw_ids[k].is_some() {
                    q = bind_raw(q, items[k], &shas[k], p, now);
                }
            }
            let done = q
                .execute(&mut *tx.tx)
                .await
                .context("storing raw deliveries")?
                .rows_affected();
            anyhow::ensure!(
                done == new as u64,
                "storing raw deliveries: {done} of {new} rows written"
            );
        }
        Ok((raw_ids, first))
    }
}

/// Binds one raw inbox row, in [`RAW_COLUMNS`] order.
fn bind_raw<'q>(
    q: Query<'q>,
    (source, d): (&str, &Delivery),
    sha: &str,
    p: super::raw::Packed,
    now: &str,
) -> Query<'q> {
    q.bind(source.to_string())
        .bind(d.kind.clone())
        .bind(d.external_id.clone())
        .bind(sha.to_string())
        .bind(p.body)
        .bind(now.to_string())
        .bind(p.encoding)
        .bind(p.dict_id)
}
