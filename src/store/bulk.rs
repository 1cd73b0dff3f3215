//! The batched ingest path: a batch of deliveries whose records are all plain inserts (stamped CFDI invoices,
//! credit notes, payments, documents seen) is stored with a few multi-row statements per hundred deliveries
//! instead of three or four statements per delivery. Same outcomes, same rows and the same conflict rules as
//! storing the deliveries one by one in arrival order (`tests/it/store.rs` compares both); anything else (ERP
//! invoices, customers, SAT status, invoices that may merge into an ERP row) takes the one-by-one path.

use super::bind::{
    bind_credit, bind_invoice, bind_payment, bind_raw, CREDIT_COLUMNS, INVOICE_COLUMNS,
    PAYMENT_COLUMNS, RAW_COLUMNS,
};
use super::dialect::{json_rows, Inserted};
use super::ingest::delivery_is_document;
use super::ingest::IngestOutcome;
use super::row::RowExt;
use super::{Store, WriteTx};
use anyhow::Context;
use cuadra_sdk::{CreditRecord, Delivery, InvoiceRecord, PaymentRecord, Record};
use std::collections::{HashMap, HashSet, VecDeque};

/// Parameters per multi-row statement: far below both backends' limits, and small enough that SQLite's lookup
/// of numbered parameters stays cheap.
const PARAMS_PER_STATEMENT: usize = 960;

fn rows_per_statement(columns: &str) -> usize {
    (PARAMS_PER_STATEMENT / columns.split(',').count()).max(1)
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
        if has_invoices && super::invoices::uuidless_invoices(tx).await? {
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
        let (raw_ids, first) = if self.dialect().raw_inbox_unique() {
            self.store_raws_keyed(tx, items, prepacked, &shas, &now)
                .await?
        } else {
            self.store_raws_looked_up(tx, items, prepacked, &shas, &now)
                .await?
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
            let sql = self.dialect().returning(
                self.dialect().insert_ignore(
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
                } else if let Some((id, _)) = super::invoices::find_invoice(tx, i).await? {
                    // The UUID is known already: the same merge checks as one by one.
                    self.compare_with_erp(tx, id, raw_ids[*k].unwrap_or_default(), i)
                        .await?;
                }
            }
        }
        let per = rows_per_statement(CREDIT_COLUMNS);
        for chunk in credits.chunks(per) {
            let sql = self.dialect().returning(
                self.dialect()
                    .insert_ignore("credits", CREDIT_COLUMNS, chunk.len(), Some("uuid")),
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
            let sql = self.dialect().returning(
                self.dialect().insert_ignore(
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
            let mut inserted = vec![false; chunk.len()];
            for (n, _) in rows.positions(chunk.len(), key, |r| r.clone()) {
                inserted[n] = true;
                outcomes[chunk[n].0] = IngestOutcome::New;
            }
            // An identity stored already: another amount is a conflict for a person (as one by one).
            for (n, (k, p)) in chunk.iter().enumerate() {
                let (source, d) = items[*k];
                let raw_id = raw_ids[*k].unwrap_or_default();
                if !inserted[n] && self.payment_conflict(tx, source, d, raw_id, p).await? {
                    outcomes[*k] = IngestOutcome::Conflicting;
                }
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

    /// Steps 1 and 2 of [`Store::ingest_batch`] where the raw inbox has its unique key (PostgreSQL): the raw bodies through `INSERT .. ON CONFLICT DO
    /// NOTHING` on the unique (kind, external_id, sha256), then the identities stored more than once.
    async fn store_raws_keyed(
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
            let sql = self.dialect().returning(
                self.dialect().insert("raw_inbox", RAW_COLUMNS, end - start)
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
                    "SELECT MIN(id) AS first_id, COUNT(*) AS n FROM raw_inbox WHERE kind = $1 AND external_id = $2",
                )
                .bind(kind.to_string())
                .bind(id.to_string())
                .fetch_one(&mut *tx.tx)
                .await?;
                if row.int("n")? > 1 {
                    first.insert((kind.to_string(), id.to_string()), row.int("first_id")?);
                }
            }
        }
        Ok((raw_ids, first))
    }

    /// Steps 1 and 2 of [`Store::ingest_batch`] where the raw inbox has no unique key and one writer (SQLite, see
    /// `migrations/sqlite/0005_raw_inbox_key.sql`): one look-up of the deliveries stored with the batch's
    /// external ids (none in a fresh import) tells which bodies are stored already and the first raw id of every
    /// identity; the others are inserted, and take the ids after the largest one in the order of their VALUES.
    async fn store_raws_looked_up(
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
            let sql = self.dialect().json_wrap(
                &format!(
                    "SELECT id, kind, external_id, sha256 FROM raw_inbox WHERE external_id IN ({})",
                    self.dialect().placeholders(1, chunk.len())
                ),
                4,
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(id.to_string());
            }
            rows.extend(
                json_rows::<(i64, String, String, String)>(tx, q)
                    .await
                    .context("reading stored deliveries")?,
            );
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
            let sql = self
                .dialect()
                .insert_ignore("raw_inbox", RAW_COLUMNS, new, None);
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
