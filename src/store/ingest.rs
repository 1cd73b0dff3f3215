//! Storing what sources deliver: the raw bytes first (byte-exact, hashed, deduplicated), then the records parsed
//! from them, then the source's checkpoint — all in one transaction, so a crash keeps all or none.

use super::{ts, Store, WriteTx};
use anyhow::Context;
use cuadra_sdk::{
    to_micros, CfdiState, CustomerRecord, Delivery, InvoiceRecord, PaymentRecord, Record,
};
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};

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
        // The first stored version of the same identity, for a document (see the batched path). No unique index
        // on SQLite (`migrations/sqlite/0005_raw_inbox_key.sql`): the deliveries stored under this identity are
        // looked up first, and this one is stored unless its body is among them. PostgreSQL keeps the unique
        // (kind, external_id, sha256) and `ON CONFLICT`.
        let sqlite = self.backend() == super::Backend::Sqlite;
        let mut earliest = None;
        if sqlite {
            let stored = sqlx::query(
                "SELECT id, sha256 FROM raw_inbox WHERE external_id = $1 AND kind = $2 ORDER BY id",
            )
            .bind(&d.external_id)
            .bind(&d.kind)
            .fetch_all(&mut *tx.tx)
            .await
            .context("storing a raw delivery")?;
            for r in &stored {
                if r.try_get::<String, _>(1)? == sha {
                    return Ok(IngestOutcome::Unchanged);
                }
                earliest = earliest.or(Some(r.try_get::<i64, _>(0)?));
            }
        }
        let inserted = sqlx::query(&format!(
            "INSERT INTO raw_inbox (source, kind, external_id, sha256, body, received_at, encoding, dict_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8){} RETURNING id",
            if sqlite {
                ""
            } else {
                " ON CONFLICT (kind, external_id, sha256) DO NOTHING"
            }
        ))
        .bind(source)
        .bind(&d.kind)
        .bind(&d.external_id)
        .bind(&sha)
        .bind(packed.body)
        .bind(&now)
        .bind(packed.encoding)
        .bind(packed.dict_id)
        .fetch_optional(&mut *tx.tx)
        .await
        .context("storing a raw delivery")?;
        let Some(row) = inserted else {
            return Ok(IngestOutcome::Unchanged);
        };
        let raw_id: i64 = row.try_get(0)?;
        let earlier = if sqlite || !delivery_is_document(d) {
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
            .map(|e| e.try_get::<i64, _>(0))
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
        if self.backend() == super::Backend::Sqlite
            && customers.len() > 1
            && customers.len() == d.records.len()
        {
            changed = self.upsert_customers_bulk(tx, source, &customers).await?;
        } else {
            for r in &d.records {
                changed |= self.apply_record(tx, source, raw_id, r).await?;
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
                let sql = super::bulk::insert_sql(
                    self.backend(),
                    "credits",
                    super::bulk::CREDIT_COLUMNS,
                    1,
                ) + " ON CONFLICT (uuid) DO NOTHING";
                let q = super::bulk::bind_credit(sqlx::query(&sql), c, raw_id, &self.now_text())?;
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

    /// A customer master on SQLite: the same outcome as [`Store::upsert_customer`] row by row, with the new
    /// customers, their audit entries and their aliases written a few thousand at a time through `json_each` (a
    /// master of 100,000 customers took six statements per customer). Customers whose content changed, and a
    /// customer's second row in one file, take the row-by-row path.
    async fn upsert_customers_bulk(
        &self,
        tx: &mut WriteTx<'_>,
        source: &str,
        cs: &[&CustomerRecord],
    ) -> anyhow::Result<bool> {
        const ROWS: usize = 2000;
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
        let ids_of = |keys: String| {
            sqlx::query_scalar::<_, String>(
                "SELECT json_group_array(json_array(customer_key, id, content_hash)) FROM customers \
                 WHERE customer_key IN (SELECT j.value FROM json_each(?) AS j)",
            )
            .bind(keys)
        };
        for chunk in firsts.chunks(ROWS) {
            let keys = serde_json::to_string(&chunk.iter().map(|(k, _, _)| k).collect::<Vec<_>>())?;
            let text = ids_of(keys).fetch_one(&mut *tx.tx).await?;
            let existing: HashMap<String, (i64, String)> =
                serde_json::from_str::<Vec<(String, i64, String)>>(&text)?
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
                rows.push(serde_json::json!([
                    key,
                    c.rfc.as_ref().map(|r| r.to_string()),
                    c.name,
                    c.emails.join(";"),
                    c.phone,
                    c.whatsapp,
                    c.credit_days.map(i64::from),
                    c.credit_limit.map(to_micros).transpose()?,
                    c.currency.map(|x| x.to_string()),
                    c.payment_reference,
                    c.language,
                    c.erp_id,
                    hash,
                    serde_json::json!({"hash": hash}).to_string(),
                ]));
            }
            let rows = serde_json::to_string(&rows)?;
            sqlx::query(
                "INSERT INTO customers (customer_key, rfc, name, emails, phone, whatsapp, credit_days, \
                 credit_limit_micros, currency, payment_reference, language, erp_id, content_hash, created_at, \
                 updated_at) SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, j.value ->> 4, \
                 j.value ->> 5, j.value ->> 6, j.value ->> 7, j.value ->> 8, j.value ->> 9, j.value ->> 10, \
                 j.value ->> 11, j.value ->> 12, ?, ? FROM json_each(?) AS j ORDER BY j.key",
            )
            .bind(&now)
            .bind(&now)
            .bind(&rows)
            .execute(&mut *tx.tx)
            .await
            .context("storing customers")?;
            sqlx::query(
                "INSERT INTO audit_log (at, actor, action, entity, entity_id, detail) \
                 SELECT ?, ?, 'create', 'customer', j.value ->> 0, j.value ->> 13 FROM json_each(?) AS j \
                 ORDER BY j.key",
            )
            .bind(&now)
            .bind(source)
            .bind(&rows)
            .execute(&mut *tx.tx)
            .await
            .context("writing the audit log")?;
            let keys = serde_json::to_string(&new.iter().map(|(k, _, _)| k).collect::<Vec<_>>())?;
            let text = ids_of(keys).fetch_one(&mut *tx.tx).await?;
            let ids: HashMap<String, i64> =
                serde_json::from_str::<Vec<(String, i64, String)>>(&text)?
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
            sqlx::query(
                "INSERT INTO customer_aliases (customer_id, kind, value, source, created_at) \
                 SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, 'import', ? FROM json_each(?) AS j \
                 WHERE true ORDER BY j.key ON CONFLICT (kind, value, customer_id) DO NOTHING",
            )
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

    async fn upsert_customer(
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
        let limit = c.credit_limit.map(to_micros).transpose()?;
        let id: i64 = match existing {
            Some(row) => {
                let old: String = row.try_get(1)?;
                let id: i64 = row.try_get(0)?;
                if old == hash {
                    return Ok(false);
                }
                sqlx::query(
                    "UPDATE customers SET rfc=$1, name=$2, emails=$3, phone=$4, whatsapp=$5, credit_days=$6, \
                     credit_limit_micros=$7, currency=$8, payment_reference=$9, language=$10, erp_id=$11, \
                     content_hash=$12, updated_at=$13 WHERE id=$14",
                )
                .bind(c.rfc.as_ref().map(|r| r.to_string()))
                .bind(&c.name)
                .bind(c.emails.join(";"))
                .bind(c.phone.clone())
                .bind(c.whatsapp.clone())
                .bind(c.credit_days.map(i64::from))
                .bind(limit)
                .bind(c.currency.map(|x| x.to_string()))
                .bind(c.payment_reference.clone())
                .bind(c.language.clone())
                .bind(c.erp_id.clone())
                .bind(&hash)
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
                let row = sqlx::query(
                    "INSERT INTO customers (customer_key, rfc, name, emails, phone, whatsapp, credit_days, \
                     credit_limit_micros, currency, payment_reference, language, erp_id, content_hash, created_at, \
                     updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$14) RETURNING id",
                )
                .bind(&key)
                .bind(c.rfc.as_ref().map(|r| r.to_string()))
                .bind(&c.name)
                .bind(c.emails.join(";"))
                .bind(c.phone.clone())
                .bind(c.whatsapp.clone())
                .bind(c.credit_days.map(i64::from))
                .bind(limit)
                .bind(c.currency.map(|x| x.to_string()))
                .bind(c.payment_reference.clone())
                .bind(c.language.clone())
                .bind(c.erp_id.clone())
                .bind(&hash)
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
                row.try_get(0)?
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

    async fn upsert_invoice(
        &self,
        tx: &mut WriteTx<'_>,
        source: &str,
        raw_id: i64,
        i: &InvoiceRecord,
    ) -> anyhow::Result<bool> {
        let now = self.now_text();
        let issued_on = i
            .issued_at
            .with_timezone(&self.timezone())
            .date_naive()
            .to_string();
        let from_erp = i.version == "erp";
        // A stamped CFDI when no ERP-only invoice exists: insert straight away, look up only on conflict.
        let fast = !from_erp && i.uuid.is_some() && !uuidless_invoices(tx).await?;
        // An ERP invoice, or a CFDI the ERP already told us about: merge into the existing row.
        let existing = if fast {
            None
        } else {
            find_invoice(tx, i).await?
        };
        if let Some((id, has_uuid)) = existing {
            self.compare_with_erp(tx, id, raw_id, i).await?;
            if from_erp {
                let res = sqlx::query(
                    "UPDATE invoices SET due_on = COALESCE($1, due_on), due_source = CASE WHEN $1 IS NULL THEN due_source ELSE 'erp' END, \
                     erp_id = COALESCE($2, erp_id), erp_residual_micros = $3, updated_at = $4 \
                     WHERE id = $5 AND (due_on IS DISTINCT FROM COALESCE($1, due_on) OR erp_id IS DISTINCT FROM COALESCE($2, erp_id) \
                     OR erp_residual_micros IS DISTINCT FROM $3)",
                )
                .bind(i.due_at.map(|d| d.to_string()))
                .bind(i.erp_id.clone())
                .bind(i.erp_residual.map(to_micros).transpose()?)
                .bind(&now)
                .bind(id)
                .execute(&mut *tx.tx)
                .await?;
                return Ok(res.rows_affected() > 0);
            }
            if !has_uuid {
                // The CFDI of an invoice the ERP sent first: the SAT document is the authority on amounts.
                sqlx::query(
                    "UPDATE invoices SET uuid=$1, issuer_rfc=$2, customer_rfc=COALESCE($3, customer_rfc), \
                     customer_name=COALESCE($4, customer_name), issued_at=$5, issued_on=$6, currency=$7, total_micros=$8, \
                     subtotal_micros=$9, exchange_rate=$10, payment_method=$11, payment_form=$12, version=$13, raw_id=$14, \
                     updated_at=$15 WHERE id=$16",
                )
                .bind(i.uuid.as_ref().map(|u| u.to_string()))
                .bind(i.issuer_rfc.as_ref().map(|r| r.to_string()))
                .bind(i.customer_rfc.as_ref().map(|r| r.to_string()))
                .bind(i.customer_name.clone())
                .bind(ts(i.issued_at))
                .bind(&issued_on)
                .bind(i.total.currency().to_string())
                .bind(i.total.to_micros()?)
                .bind(i.subtotal.map(to_micros).transpose()?)
                .bind(i.exchange_rate.map(|x| x.to_string()))
                .bind(i.payment_method.map(|m| format!("{m:?}").to_uppercase()))
                .bind(i.payment_form.clone())
                .bind(&i.version)
                .bind(raw_id)
                .bind(&now)
                .bind(id)
                .execute(&mut *tx.tx)
                .await?;
                self.audit(
                    tx,
                    source,
                    "merge",
                    "invoice",
                    &i.uuid.as_ref().map(|u| u.to_string()).unwrap_or_default(),
                    serde_json::json!({"invoice_id": id}),
                )
                .await?;
                return Ok(true);
            }
            return Ok(false);
        }
        if i.uuid.is_none() {
            tx.uuidless_invoices = Some(true);
        }
        let sql =
            super::bulk::insert_sql(self.backend(), "invoices", super::bulk::INVOICE_COLUMNS, 1)
                + " ON CONFLICT (uuid) DO NOTHING RETURNING id";
        let row = super::bulk::bind_invoice(sqlx::query(&sql), i, issued_on, raw_id, &now)?
            .fetch_optional(&mut *tx.tx)
            .await?;
        if row.is_none() && fast {
            // The UUID is known already: the same merge checks as the slow path.
            if let Some((id, _)) = find_invoice(tx, i).await? {
                self.compare_with_erp(tx, id, raw_id, i).await?;
            }
        }
        Ok(row.is_some())
    }

    async fn insert_payment(
        &self,
        tx: &mut WriteTx<'_>,
        source: &str,
        raw_id: i64,
        p: &PaymentRecord,
    ) -> anyhow::Result<bool> {
        let sql =
            super::bulk::insert_sql(self.backend(), "payments", super::bulk::PAYMENT_COLUMNS, 1)
                + " ON CONFLICT (kind, external_id) DO NOTHING";
        let res =
            super::bulk::bind_payment(sqlx::query(&sql), source, p, raw_id, &self.now_text())?
                .execute(&mut *tx.tx)
                .await?;
        Ok(res.rows_affected() > 0)
    }
}

impl Store {
    /// When an ERP invoice and a CFDI are merged into one row, differences in what both state (total, currency,
    /// customer) are recorded as a conflict for a person: the CFDI stays the authority on amounts, the ERP on the
    /// due date, and nothing else is resolved silently.
    pub(super) async fn compare_with_erp(
        &self,
        tx: &mut WriteTx<'_>,
        id: i64,
        raw_id: i64,
        i: &InvoiceRecord,
    ) -> anyhow::Result<()> {
        let Some(row) = sqlx::query(
            "SELECT total_micros, currency, customer_rfc, version, raw_id FROM invoices WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *tx.tx)
        .await?
        else {
            return Ok(());
        };
        let version: String = row.try_get(3)?;
        if (version == "erp") == (i.version == "erp") {
            return Ok(());
        }
        let mut diffs = Vec::new();
        let total: i64 = row.try_get(0)?;
        let currency: String = row.try_get(1)?;
        if total != i.total.to_micros()? || currency != i.total.currency().as_str() {
            diffs.push(format!(
                "total {} {} vs {} {}",
                super::money(total, &currency),
                currency,
                i.total.display_amount(),
                i.total.currency()
            ));
        }
        let rfc: Option<String> = row.try_get(2)?;
        if let (Some(a), Some(b)) = (rfc, i.customer_rfc.as_ref()) {
            if a != b.as_str() {
                diffs.push(format!("customer {a} vs {b}"));
            }
        }
        if diffs.is_empty() {
            return Ok(());
        }
        let kept: Option<i64> = row.try_get(4)?;
        sqlx::query(
            "INSERT INTO conflicts (kind, external_id, kept_raw_id, conflicting_raw_id, detail, created_at) \
             VALUES ('erp-invoice', $1, $2, $3, $4, $5) ON CONFLICT (kept_raw_id, conflicting_raw_id) DO NOTHING",
        )
        .bind(
            i.uuid
                .as_ref()
                .map(|u| u.to_string())
                .or_else(|| i.erp_id.clone())
                .unwrap_or_default(),
        )
        .bind(kept.unwrap_or(0))
        .bind(raw_id)
        .bind(format!("the ERP and the CFDI disagree: {} (the CFDI's amounts are kept)", diffs.join("; ")))
        .bind(self.now_text())
        .execute(&mut *tx.tx)
        .await?;
        Ok(())
    }
}

/// What tells a customer master row changed: the SHA-256 of the record as JSON.
fn content_hash(c: &CustomerRecord) -> anyhow::Result<String> {
    Ok(cuadra_sdk::sha256_hex(serde_json::to_string(c)?.as_bytes()))
}

/// The aliases a customer master row gives its customer: accounts, payment reference, RFC.
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

/// Accounts compare without spaces or dashes.
pub fn normalize_account(a: &str) -> String {
    a.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect::<String>()
        .to_uppercase()
}

/// Whether invoices without a UUID (ERP-only) exist; looked up once per transaction.
pub(super) async fn uuidless_invoices(tx: &mut WriteTx<'_>) -> anyhow::Result<bool> {
    if let Some(v) = tx.uuidless_invoices {
        return Ok(v);
    }
    let n: i64 =
        sqlx::query("SELECT COUNT(*) FROM (SELECT 1 FROM invoices WHERE uuid IS NULL LIMIT 1) x")
            .fetch_one(&mut *tx.tx)
            .await?
            .try_get(0)?;
    tx.uuidless_invoices = Some(n > 0);
    Ok(n > 0)
}

pub(super) async fn find_invoice(
    tx: &mut WriteTx<'_>,
    i: &InvoiceRecord,
) -> anyhow::Result<Option<(i64, bool)>> {
    if let Some(u) = &i.uuid {
        if let Some(r) = sqlx::query("SELECT id FROM invoices WHERE uuid = $1")
            .bind(u.as_str())
            .fetch_optional(&mut *tx.tx)
            .await?
        {
            return Ok(Some((r.try_get(0)?, true)));
        }
    }
    if let Some(e) = &i.erp_id {
        if let Some(r) = sqlx::query("SELECT id, uuid FROM invoices WHERE erp_id = $1")
            .bind(e)
            .fetch_optional(&mut *tx.tx)
            .await?
        {
            let uuid: Option<String> = r.try_get(1)?;
            if i.uuid.is_none() || uuid.is_none() {
                return Ok(Some((r.try_get(0)?, uuid.is_some())));
            }
        }
    }
    // A CFDI merges by serie/folio only into an ERP row that has no UUID yet; skip the look-up when none exist.
    if i.version != "erp" && !uuidless_invoices(tx).await? {
        return Ok(None);
    }
    if let Some(folio) = &i.folio {
        let rows = sqlx::query(
            "SELECT id, uuid, version FROM invoices WHERE folio = $1 AND COALESCE(serie, '') = $2 \
             AND COALESCE(customer_rfc, '') = COALESCE($3, COALESCE(customer_rfc, ''))",
        )
        .bind(folio)
        .bind(i.serie.clone().unwrap_or_default())
        .bind(i.customer_rfc.as_ref().map(|r| r.to_string()))
        .fetch_all(&mut *tx.tx)
        .await?;
        // Merge by serie/folio only across sources (ERP ↔ SAT), and only when unambiguous.
        if rows.len() == 1 {
            let uuid: Option<String> = rows[0].try_get(1)?;
            let version: String = rows[0].try_get(2)?;
            let other_side = (version == "erp") != (i.version == "erp");
            if other_side && (uuid.is_none() || i.uuid.is_none()) {
                return Ok(Some((rows[0].try_get(0)?, uuid.is_some())));
            }
        }
    }
    Ok(None)
}
