//! Storing what sources deliver: the raw bytes first (byte-exact, hashed, deduplicated), then the records parsed
//! from them, then the source's checkpoint — all in one transaction, so a crash keeps all or none.

use super::bind::{
    bind_credit, bind_payment, bind_raw, CREDIT_COLUMNS, PAYMENT_COLUMNS, RAW_COLUMNS,
};
use super::row::RowExt;
use super::{ts, Store, WriteTx};
use anyhow::Context;
use cuadra_sdk::{CfdiState, CustomerRecord, Delivery, PaymentRecord, Record};
use std::collections::BTreeMap;

/// What happened to one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IngestOutcome {
    New,
    Unchanged,
    Conflicting,
    Failed,
}

/// Counts by label (CFDI tipo, statement format, ...) and outcome.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct IngestSummary {
    pub counts: BTreeMap<String, BTreeMap<String, u64>>,
    pub errors: Vec<String>,
    /// What did not stop the import but a person should see (a statement that does not add up, a field cut to
    /// the configured length); warnings alone do not change the exit code.
    pub warnings: Vec<String>,
}

impl IngestSummary {
    pub fn add(&mut self, label: &str, outcome: IngestOutcome) {
        let key = match outcome {
            IngestOutcome::New => "new",
            IngestOutcome::Unchanged => "unchanged",
            IngestOutcome::Conflicting => "conflicting",
            IngestOutcome::Failed => "failed",
        };
        *self
            .counts
            .entry(label.to_string())
            .or_default()
            .entry(key.to_string())
            .or_default() += 1;
    }
    pub fn fail(&mut self, label: &str, message: String) {
        self.add(label, IngestOutcome::Failed);
        self.errors.push(message);
    }
    pub fn merge(&mut self, other: IngestSummary) {
        for (label, m) in other.counts {
            for (k, v) in m {
                *self
                    .counts
                    .entry(label.clone())
                    .or_default()
                    .entry(k)
                    .or_default() += v;
            }
        }
        self.errors.extend(other.errors);
        self.warnings.extend(other.warnings);
    }
    pub fn total(&self, outcome: &str) -> u64 {
        self.counts.values().filter_map(|m| m.get(outcome)).sum()
    }
}

/// Kinds whose `external_id` is a document identity: the same id with other bytes is a conflict for a person.
const DOCUMENT_KINDS: &[&str] = &["cfdi"];

pub(super) const CONFLICT_DETAIL: &str =
    "same identity, different content: the first version is kept; compare the two raw documents";

pub(super) fn delivery_is_document(d: &Delivery) -> bool {
    DOCUMENT_KINDS.contains(&d.kind.as_str())
}

/// A label for summaries: the CFDI tipo for CFDI, else the delivery kind.
pub fn delivery_label(d: &Delivery) -> String {
    if d.kind != "cfdi" {
        return d.kind.clone();
    }
    match d.records.first() {
        Some(Record::Invoice(_)) => "I".into(),
        Some(Record::Credit(_)) => "E".into(),
        Some(Record::Payment(_)) => "P".into(),
        Some(Record::Seen(s)) => s.tipo.clone(),
        _ => "P".into(),
    }
}

/// The first amount of `d` the ledger cannot store exactly (more than 6 decimals, or beyond the i64 micro-unit
/// range), as "field: why". Such a delivery is refused on its own (a file importer reports it and goes on, a
/// webhook gets 400) instead of failing the transaction that holds its neighbours.
pub fn unstorable_amount(d: &Delivery) -> Option<String> {
    use cuadra_sdk::to_micros;
    let check = |field: &str, v: Option<rust_decimal::Decimal>| {
        v.and_then(|v| to_micros(v).err().map(|e| format!("{field}: {e}")))
    };
    d.records.iter().find_map(|r| match r {
        Record::Invoice(i) => check("invoice total", Some(i.total.amount()))
            .or_else(|| check("invoice subtotal", i.subtotal))
            .or_else(|| check("invoice ERP residual", i.erp_residual)),
        Record::Credit(c) => check("credit total", Some(c.total.amount())),
        Record::Payment(p) => check("payment amount", Some(p.amount.amount())).or_else(|| {
            p.remittance
                .iter()
                .find_map(|l| check("remittance line amount", l.amount.map(|m| m.amount())))
        }),
        Record::Customer(c) => check("customer credit limit", c.credit_limit),
        Record::CfdiStatus(_) | Record::Seen(_) => None,
    })
}

impl Store {
    /// Stores deliveries from `source` and, when given, the connector checkpoint that follows them, in one
    /// transaction. Returns one outcome per delivery.
    pub async fn ingest(
        &self,
        source: &str,
        deliveries: &[Delivery],
        checkpoint: Option<(&str, &serde_json::Value)>,
    ) -> anyhow::Result<Vec<IngestOutcome>> {
        let mut tx = self.begin_write().await?;
        let outcomes = self.ingest_in(&mut tx, source, deliveries).await?;
        if let Some((connector, value)) = checkpoint {
            self.put_checkpoint(&mut tx, connector, value).await?;
        }
        tx.tx.commit().await.context("committing an import")?;
        Ok(outcomes)
    }

    /// Stores deliveries inside a transaction the caller commits (a bulk import groups several batches).
    pub async fn ingest_in(
        &self,
        tx: &mut WriteTx<'_>,
        source: &str,
        deliveries: &[Delivery],
    ) -> anyhow::Result<Vec<IngestOutcome>> {
        self.ingest_prepacked(tx, source, deliveries, &[]).await
    }

    /// [`Store::ingest_in`] for deliveries whose bodies were hashed and compressed ahead
    /// ([`Store::prepack`]: none, or one per delivery in order).
    pub async fn ingest_prepacked(
        &self,
        tx: &mut WriteTx<'_>,
        source: &str,
        deliveries: &[Delivery],
        prepacked: &[super::raw::Prepacked],
    ) -> anyhow::Result<Vec<IngestOutcome>> {
        anyhow::ensure!(
            prepacked.is_empty() || prepacked.len() == deliveries.len(),
            "one prepacked body per delivery, or none"
        );
        let items: Vec<(&str, &Delivery)> = deliveries.iter().map(|d| (source, d)).collect();
        self.ingest_items(tx, &items, prepacked).await
    }

    /// Stores deliveries from several sources in one transaction (the webhook intake's group commit).
    pub async fn ingest_from(
        &self,
        items: &[(&str, &Delivery)],
    ) -> anyhow::Result<Vec<IngestOutcome>> {
        let mut tx = self.begin_write().await?;
        let outcomes = self.ingest_items(&mut tx, items, &[]).await?;
        tx.tx.commit().await.context("committing deliveries")?;
        Ok(outcomes)
    }

    /// Batched when every record is a plain insert, else one by one in arrival order.
    /// `prepacked`: empty, or one per item.
    async fn ingest_items(
        &self,
        tx: &mut WriteTx<'_>,
        items: &[(&str, &Delivery)],
        prepacked: &[super::raw::Prepacked],
    ) -> anyhow::Result<Vec<IngestOutcome>> {
        if let Some(outcomes) = self.ingest_batch(tx, items, prepacked).await? {
            return Ok(outcomes);
        }
        let mut outcomes = Vec::with_capacity(items.len());
        for (k, (source, d)) in items.iter().enumerate() {
            outcomes.push(self.ingest_one(tx, source, d, prepacked.get(k)).await?);
        }
        Ok(outcomes)
    }

    /// Records that `raw_id` carries a document identity first stored as `kept` with other bytes.
    pub(super) async fn record_conflict(
        &self,
        tx: &mut WriteTx<'_>,
        source: &str,
        d: &Delivery,
        kept: i64,
        raw_id: i64,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO conflicts (kind, external_id, kept_raw_id, conflicting_raw_id, detail, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kept_raw_id, conflicting_raw_id) DO NOTHING",
        )
        .bind(&d.kind)
        .bind(&d.external_id)
        .bind(kept)
        .bind(raw_id)
        .bind(CONFLICT_DETAIL)
        .bind(self.now_text())
        .execute(&mut *tx.tx)
        .await?;
        self.audit(
            tx,
            source,
            "conflict",
            &d.kind,
            &d.external_id,
            serde_json::json!({"kept_raw_id": kept, "conflicting_raw_id": raw_id}),
        )
        .await
    }

    async fn ingest_one(
        &self,
        tx: &mut WriteTx<'_>,
        source: &str,
        d: &Delivery,
        pre: Option<&super::raw::Prepacked>,
    ) -> anyhow::Result<IngestOutcome> {
        let sha = super::raw::sha_of(d, pre);
        let now = self.now_text();
        let packed = self
            .pack_bodies(tx, &[(d.kind.as_str(), d.raw.as_slice(), pre)])
            .await?
            .pop()
            .expect("one body in, one out");
        // The first stored version of the same identity, for a document (see the batched path). Without the raw
        // inbox's unique key (see `Dialect::raw_inbox_unique`) the deliveries stored under this identity are looked
        // up first, and this one is stored unless its body is among them; with it, `ON CONFLICT` on that key.
        let keyed = self.dialect().raw_inbox_unique();
        let mut earliest = None;
        if !keyed {
            let stored = sqlx::query(
                "SELECT id, sha256 FROM raw_inbox WHERE external_id = $1 AND kind = $2 ORDER BY id",
            )
            .bind(&d.external_id)
            .bind(&d.kind)
            .fetch_all(&mut *tx.tx)
            .await
            .context("storing a raw delivery")?;
            for r in &stored {
                if r.text("sha256")? == sha {
                    return Ok(IngestOutcome::Unchanged);
                }
                earliest = earliest.or(Some(r.int("id")?));
            }
        }
        let mut sql = self.dialect().insert("raw_inbox", RAW_COLUMNS, 1);
        if keyed {
            sql.push_str(" ON CONFLICT (kind, external_id, sha256) DO NOTHING");
        }
        sql.push_str(" RETURNING id");
        let inserted = bind_raw(sqlx::query(&sql), (source, d), &sha, packed, &now)
            .fetch_optional(&mut *tx.tx)
            .await
            .context("storing a raw delivery")?;
        let Some(row) = inserted else {
            return Ok(IngestOutcome::Unchanged);
        };
        let raw_id = row.int("id")?;
        let earlier = if !keyed || !delivery_is_document(d) {
            earliest
        } else {
            sqlx::query(
                "SELECT id FROM raw_inbox WHERE kind = $1 AND external_id = $2 AND id <> $3 ORDER BY id LIMIT 1",
            )
            .bind(&d.kind)
            .bind(&d.external_id)
            .bind(raw_id)
            .fetch_optional(&mut *tx.tx)
            .await?
            .map(|e| e.int("id"))
            .transpose()?
        };
        if delivery_is_document(d) {
            if let Some(kept) = earlier {
                self.record_conflict(tx, source, d, kept, raw_id).await?;
                return Ok(IngestOutcome::Conflicting);
            }
        }
        let mut changed = false;
        let customers: Vec<&CustomerRecord> = d
            .records
            .iter()
            .filter_map(|r| match r {
                Record::Customer(c) => Some(c),
                _ => None,
            })
            .collect();
        if customers.len() > 1 && customers.len() == d.records.len() {
            changed = self.upsert_customers_bulk(tx, source, &customers).await?;
        } else {
            let mut conflicting = false;
            for r in &d.records {
                let applied = self.apply_record(tx, source, raw_id, r).await?;
                changed |= applied;
                // A payment whose identity is stored already: another amount is a conflict for a person.
                if let (false, Record::Payment(p)) = (applied, r) {
                    conflicting |= self.payment_conflict(tx, source, d, raw_id, p).await?;
                }
            }
            if conflicting {
                return Ok(IngestOutcome::Conflicting);
            }
        }
        Ok(if changed || d.records.is_empty() {
            IngestOutcome::New
        } else {
            IngestOutcome::Unchanged
        })
    }

    /// Applies one record; returns whether the ledger changed.
    async fn apply_record(
        &self,
        tx: &mut WriteTx<'_>,
        source: &str,
        raw_id: i64,
        r: &Record,
    ) -> anyhow::Result<bool> {
        match r {
            Record::Customer(c) => self.upsert_customer(tx, source, c).await,
            Record::Invoice(i) => self.upsert_invoice(tx, source, raw_id, i).await,
            Record::Credit(c) => {
                let sql = self.dialect().insert("credits", CREDIT_COLUMNS, 1)
                    + " ON CONFLICT (uuid) DO NOTHING";
                let q = bind_credit(sqlx::query(&sql), c, raw_id, &self.now_text())?;
                let res = q.execute(&mut *tx.tx).await?;
                Ok(res.rows_affected() > 0)
            }
            Record::Payment(p) => self.insert_payment(tx, source, raw_id, p).await,
            Record::CfdiStatus(s) => {
                let state = match s.state {
                    CfdiState::Vigente => "vigente",
                    CfdiState::Cancelado => "cancelado",
                };
                let res = sqlx::query(
                    "INSERT INTO sat_status (uuid, state, cancelled_at, tipo, updated_at) VALUES ($1,$2,$3,$4,$5) \
                     ON CONFLICT (uuid) DO UPDATE SET state = excluded.state, cancelled_at = excluded.cancelled_at, \
                     tipo = excluded.tipo, updated_at = excluded.updated_at \
                     WHERE sat_status.state <> excluded.state OR sat_status.cancelled_at IS DISTINCT FROM excluded.cancelled_at",
                )
                .bind(s.uuid.as_str())
                .bind(state)
                .bind(s.cancelled_at.map(ts))
                .bind(s.tipo.clone())
                .bind(self.now_text())
                .execute(&mut *tx.tx)
                .await?;
                Ok(res.rows_affected() > 0)
            }
            // A document recorded as seen only (received CFDI, T, N, unstamped): new in the raw inbox, so new.
            Record::Seen(_) => Ok(true),
        }
    }

    async fn insert_payment(
        &self,
        tx: &mut WriteTx<'_>,
        source: &str,
        raw_id: i64,
        p: &PaymentRecord,
    ) -> anyhow::Result<bool> {
        let sql = self.dialect().insert("payments", PAYMENT_COLUMNS, 1)
            + " ON CONFLICT (kind, external_id) DO NOTHING";
        let res = bind_payment(sqlx::query(&sql), source, p, raw_id, &self.now_text())?
            .execute(&mut *tx.tx)
            .await?;
        Ok(res.rows_affected() > 0)
    }
}

pub use cuadra_sdk::normalize_account;
