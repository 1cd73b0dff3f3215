//! Links between documents that the documents themselves state: SAT status applied to the documents it names,
//! credit notes applied to the invoices they relate to, sustitución (04, whose allocations follow in `follow`),
//! and REP `DoctoRelacionado` rows turned into allocations, never more than the invoice owes (the excess is an
//! exception for a person). Derived, idempotent and order-independent: it runs after every import and may run
//! any time.

use super::dialect::json_rows;
use super::doc_exceptions::DOCUMENTS;
use super::row::RowExt;
use super::{Store, WriteTx};
use anyhow::Context;
use cuadra_sdk::{format_micros, to_micros, InvoiceRef, RemittanceLine};
use std::collections::{HashMap, HashSet};

/// Payment receipts linked per round.
const REP_CHUNK: i64 = 2000;
/// Values per look-up or insert statement in the batched passes.
const LOOKUP_CHUNK: usize = 900;

/// Credit-note relation types that reduce what the customer owes.
const CREDIT_RELATIONS: &[&str] = &["01", "03", "07"];

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct LinkSummary {
    pub status_applied: u64,
    pub credits_applied: u64,
    pub rep_allocations: u64,
    pub rep_allocations_removed: u64,
    pub superseded: u64,
    /// Allocations moved from a replaced invoice to its substitute (CFDI relacionado 04).
    pub substitutions_followed: u64,
}

impl Store {
    /// The rows of `select` (ending in `column IN`) for every key, `LOOKUP_CHUNK` keys a statement, each
    /// statement's rows read as one JSON text.
    pub(in crate::store) async fn rows_in<T, K>(
        &self,
        tx: &mut WriteTx<'_>,
        select: &str,
        columns: usize,
        keys: &[K],
    ) -> anyhow::Result<Vec<T>>
    where
        T: serde::de::DeserializeOwned,
        K: Clone + Send + sqlx::Type<sqlx::Any> + for<'q> sqlx::Encode<'q, sqlx::Any> + 'static,
    {
        let mut out = Vec::new();
        for chunk in keys.chunks(LOOKUP_CHUNK) {
            let list = self.dialect().placeholders(1, chunk.len());
            let sql = self
                .dialect()
                .json_wrap(&format!("{select} ({list})"), columns);
            let mut q = sqlx::query(&sql);
            for k in chunk {
                q = q.bind(k.clone());
            }
            out.extend(json_rows::<T>(tx, q).await?);
        }
        Ok(out)
    }

    /// Applies every link the documents state and that is not applied yet.
    pub async fn link_documents(&self) -> anyhow::Result<LinkSummary> {
        let t = std::time::Instant::now();
        let mut tx = self.begin_write().await?;
        let status_applied = self.apply_sat_status(&mut tx).await?;
        let superseded = self.apply_substitutions(&mut tx).await?;
        let credits_applied = self.apply_credits(&mut tx).await?;
        let (rep_allocations, rep_allocations_removed) =
            self.apply_rep_allocations(&mut tx).await?;
        let substitutions_followed = self.follow_substitutions(&mut tx).await?;
        let s = LinkSummary {
            substitutions_followed,
            status_applied,
            credits_applied,
            rep_allocations,
            rep_allocations_removed,
            superseded,
        };
        tx.tx.commit().await.context("committing document links")?;
        tracing::debug!(ms = t.elapsed().as_millis() as u64, summary = ?s, "documents linked");
        Ok(s)
    }

    /// SAT states that differ from the ledger's, driven from `sat_status` (one index look-up per status row), so
    /// that a ledger of a million invoices is not scanned when few or no statuses arrived.
    async fn apply_sat_status(&self, tx: &mut WriteTx<'_>) -> anyhow::Result<u64> {
        let mut n = 0;
        for table in ["invoices", "credits"] {
            n += sqlx::query(&format!(
                "UPDATE {table} SET sat_state = (SELECT s.state FROM sat_status s WHERE s.uuid = {table}.uuid), \
                 cancelled_at = (SELECT s.cancelled_at FROM sat_status s WHERE s.uuid = {table}.uuid) \
                 WHERE uuid IN (SELECT s.uuid FROM sat_status s JOIN {table} t ON t.uuid = s.uuid \
                 WHERE s.state <> t.sat_state)"
            ))
            .execute(&mut *tx.tx)
            .await?
            .rows_affected();
        }
        n += sqlx::query(
            "UPDATE payments SET sat_state = (SELECT s.state FROM sat_status s WHERE s.uuid = payments.document_id) \
             WHERE kind = 'rep' AND document_id IN (SELECT s.uuid FROM sat_status s JOIN payments p \
             ON p.document_id = s.uuid AND p.kind = 'rep' WHERE s.state <> p.sat_state)",
        )
        .execute(&mut *tx.tx)
        .await?
        .rows_affected();
        Ok(n)
    }

    async fn apply_substitutions(&self, tx: &mut WriteTx<'_>) -> anyhow::Result<u64> {
        // Through the partial index `invoices_replacing` (`COALESCE(..)`, not `uuid IS NOT NULL`, which SQLite
        // would answer by walking the whole UUID index).
        let rows = sqlx::query(
            "SELECT uuid, replaces FROM invoices WHERE replaces <> '[]' AND COALESCE(uuid, '') <> '' \
             AND sat_state = 'vigente'",
        )
        .fetch_all(&mut *tx.tx)
        .await?;
        let mut n = 0;
        for r in rows {
            let uuid = r.text("uuid")?;
            let replaces: Vec<String> =
                serde_json::from_str(&r.text("replaces")?).unwrap_or_default();
            for old in replaces {
                n += sqlx::query(
                    "UPDATE invoices SET superseded_by = $1 WHERE uuid = $2 AND superseded_by IS NULL",
                )
                .bind(&uuid)
                .bind(old.to_lowercase())
                .execute(&mut *tx.tx)
                .await?
                .rows_affected();
            }
        }
        Ok(n)
    }

    /// Applies each vigente credit note to the invoices it relates to, in document order, each up to what the
    /// invoice still owes after earlier credits; a credit in another currency than the invoice is not applied.
    async fn apply_credits(&self, tx: &mut WriteTx<'_>) -> anyhow::Result<u64> {
        let rows = sqlx::query(
            "SELECT c.id, c.currency, c.total_micros, c.relation_type, c.applies_to, \
             CAST(COALESCE((SELECT SUM(a.amount_micros) FROM credit_applications a WHERE a.credit_id = c.id), 0) AS BIGINT) AS used \
             FROM credits c WHERE c.sat_state = 'vigente' AND c.applies_to <> '[]' \
             AND c.total_micros > CAST(COALESCE((SELECT SUM(a.amount_micros) FROM credit_applications a WHERE a.credit_id = c.id), 0) AS BIGINT) \
             ORDER BY c.issued_at, c.uuid",
        )
        .fetch_all(&mut *tx.tx)
        .await?;
        // The pending credit notes in document order, then every invoice they name in a few look-ups, then the
        // application in memory (each credit up to what the invoice still owes after earlier credits, as one by
        // one), written with multi-row inserts.
        struct PendingCredit {
            id: i64,
            currency: String,
            left: i64,
            used: i64,
            applies: Vec<String>,
        }
        let mut credits = Vec::with_capacity(rows.len());
        for r in rows {
            let relation = r.opt_text("relation_type")?;
            if !relation
                .as_deref()
                .is_some_and(|x| CREDIT_RELATIONS.contains(&x))
            {
                continue;
            }
            let used = r.int("used")?;
            let applies: Vec<String> = serde_json::from_str::<Vec<String>>(&r.text("applies_to")?)
                .unwrap_or_default()
                .into_iter()
                .map(|u| u.to_lowercase())
                .collect();
            credits.push(PendingCredit {
                id: r.int("id")?,
                currency: r.text("currency")?,
                left: r.int("total_micros")? - used,
                used,
                applies,
            });
        }
        let mut wanted: Vec<String> = credits
            .iter()
            .flat_map(|c| c.applies.iter().cloned())
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        // uuid -> (id, currency, owed after every credit applied so far)
        let mut invoices: HashMap<String, (i64, String, i64)> = self
            .rows_in::<(String, i64, String, i64), _>(
                tx,
                "SELECT i.uuid, i.id, i.currency, i.total_micros - CAST(COALESCE((SELECT SUM(a.amount_micros) \
                 FROM credit_applications a WHERE a.invoice_id = i.id), 0) AS BIGINT) \
                 FROM invoices i WHERE i.uuid IN",
                4,
                &wanted,
            )
            .await?
            .into_iter()
            .map(|(uuid, id, currency, owed)| (uuid, (id, currency, owed)))
            .collect();
        // Pairs already applied (only credits partly used can have any).
        let partly: Vec<i64> = credits
            .iter()
            .filter(|c| c.used > 0)
            .map(|c| c.id)
            .collect();
        let mut applied: HashSet<(i64, i64)> = self
            .rows_in(
                tx,
                "SELECT credit_id, invoice_id FROM credit_applications WHERE credit_id IN",
                2,
                &partly,
            )
            .await?
            .into_iter()
            .collect();
        let mut rows: Vec<(i64, i64, i64)> = Vec::new();
        for c in &mut credits {
            for uuid in &c.applies {
                if c.left <= 0 {
                    break;
                }
                let Some((invoice_id, currency, owed)) = invoices.get_mut(uuid) else {
                    continue;
                };
                if applied.contains(&(c.id, *invoice_id)) || *currency != c.currency {
                    continue;
                }
                let amount = c.left.min((*owed).max(0));
                if amount <= 0 {
                    continue;
                }
                applied.insert((c.id, *invoice_id));
                rows.push((c.id, *invoice_id, amount));
                *owed -= amount;
                c.left -= amount;
            }
        }
        let now = self.now_text();
        for chunk in rows.chunks(LOOKUP_CHUNK / 4) {
            let sql = self.dialect().insert(
                "credit_applications",
                "credit_id, invoice_id, amount_micros, created_at",
                chunk.len(),
            ) + " ON CONFLICT (credit_id, invoice_id) DO NOTHING";
            let mut q = sqlx::query(&sql);
            for (credit, invoice, amount) in chunk {
                q = q
                    .bind(*credit)
                    .bind(*invoice)
                    .bind(*amount)
                    .bind(now.clone());
            }
            q.execute(&mut *tx.tx).await?;
        }
        Ok(rows.len() as u64)
    }

    /// Turns each vigente REP's `DoctoRelacionado` rows into allocations (method `rep`); removes them when the REP
    /// is cancelled. Rows naming invoices not in the ledger yet wait for them.
    async fn apply_rep_allocations(&self, tx: &mut WriteTx<'_>) -> anyhow::Result<(u64, u64)> {
        let now = self.now_text();
        // Cancelled receipts through the partial index `payments_cancelled` (`kind || ''` keeps SQLite off the
        // (kind, external_id) index, which holds every receipt).
        let removed = sqlx::query(
            "UPDATE allocations SET removed_at = $1, removed_by = 'sat: payment receipt cancelled' \
             WHERE removed_at IS NULL AND method = 'rep' AND payment_id IN \
             (SELECT id FROM payments WHERE kind || '' = 'rep' AND sat_state = 'cancelado')",
        )
        .bind(&now)
        .execute(&mut *tx.tx)
        .await?
        .rows_affected();
        // What a cancelled receipt raised for a person goes with it.
        sqlx::query(
            "DELETE FROM exceptions WHERE origin = $1 AND payment_id IN \
             (SELECT id FROM payments WHERE kind || '' = 'rep' AND sat_state = 'cancelado')",
        )
        .bind(DOCUMENTS)
        .execute(&mut *tx.tx)
        .await?;
        // Pending receipts a chunk at a time (memory stays flat however many a bulk import brings).
        let mut added = 0u64;
        let mut after = i64::MIN;
        loop {
            let sql = self.dialect().json_wrap(
                &format!(
                    // `kind || ''`: walked in id order from `after`, not through the (kind, external_id) index
                    // (which made every chunk visit all pending receipts again: quadratic in a bulk import).
                    "SELECT p.id, p.document_id, p.remittance FROM payments p WHERE p.kind || '' = 'rep' \
                     AND p.sat_state = 'vigente' AND p.remittance <> '[]' AND p.links_pending = 1 AND p.id > {} \
                     ORDER BY p.id LIMIT {REP_CHUNK}",
                    self.dialect().placeholder(1)
                ),
                3,
            );
            let reps: Vec<(i64, Option<String>, String)> =
                json_rows(tx, sqlx::query(&sql).bind(after)).await?;
            // The largest id read (the JSON array's order is not promised on every backend).
            let Some(last) = reps.iter().map(|r| r.0).max() else {
                break;
            };
            after = last;
            let full = reps.len() as i64 == REP_CHUNK;
            // Every line of every pending receipt, then three look-ups per few hundred lines instead of per line.
            struct Line {
                payment_id: i64,
                uuid: String,
                amount: rust_decimal::Decimal,
                currency: String,
                /// `REP <uuid> line <n>:`, the line's identity in its allocation's explanation.
                key: String,
                explanation: String,
            }
            let mut lines: Vec<Line> = Vec::new();
            let mut payment_ids: Vec<i64> = Vec::with_capacity(reps.len());
            for (payment_id, rep_uuid, remittance) in &reps {
                let payment_id = *payment_id;
                payment_ids.push(payment_id);
                let rep_uuid = rep_uuid.as_deref().unwrap_or_default();
                let rem: Vec<RemittanceLine> = serde_json::from_str(remittance).unwrap_or_default();
                for (idx, line) in rem.iter().enumerate() {
                    let (InvoiceRef::Uuid(uuid), Some(amount)) = (&line.invoice, &line.amount)
                    else {
                        continue;
                    };
                    let key = format!("REP {rep_uuid} line {}:", idx + 1);
                    lines.push(Line {
                        payment_id,
                        uuid: uuid.as_str().to_string(),
                        amount: amount.amount(),
                        currency: amount.currency().as_str().to_string(),
                        explanation: format!(
                            "{key} DoctoRelacionado {uuid} parcialidad {} pays {}",
                            line.installment
                                .map(|x| x.to_string())
                                .unwrap_or_else(|| "-".into()),
                            amount
                        ),
                        key,
                    });
                }
            }
            drop(reps);
            let list = |n: usize| self.dialect().placeholders(1, n);
            // Lines applied already, by their key (the explanation's words up to the first colon).
            let existing: HashSet<(i64, String)> = self
                .rows_in::<(i64, String), _>(
                    tx,
                    "SELECT payment_id, explanation FROM allocations WHERE method = 'rep' AND payment_id IN",
                    2,
                    &payment_ids,
                )
                .await?
                .into_iter()
                .map(|(p, e)| {
                    let key = e.split_once(':').map_or(e.as_str(), |(k, _)| k);
                    (p, format!("{key}:"))
                })
                .collect();
            lines.retain(|l| !existing.contains(&(l.payment_id, l.key.clone())));
            let mut wanted: Vec<String> = lines.iter().map(|l| l.uuid.clone()).collect();
            wanted.sort_unstable();
            wanted.dedup();
            // uuid -> (id, currency, label, what the documents leave owed: the total less vigente credit notes and
            // live allocations other than the engine's, which a document displaces below).
            let mut invoices: HashMap<String, (i64, String, String, i64)> = self
                .rows_in::<(String, i64, String, String, i64), _>(
                    tx,
                    "SELECT i.uuid, i.id, i.currency, CASE WHEN COALESCE(i.serie, '') = '' THEN COALESCE(i.folio, i.uuid) \
                     ELSE i.serie || '-' || COALESCE(i.folio, i.uuid) END, \
                     i.total_micros - CAST(COALESCE((SELECT SUM(ca.amount_micros) FROM credit_applications ca \
                     JOIN credits cr ON cr.id = ca.credit_id WHERE ca.invoice_id = i.id AND cr.sat_state = 'vigente'), 0) AS BIGINT) \
                     - CAST(COALESCE((SELECT SUM(a.amount_micros) FROM allocations a WHERE a.invoice_id = i.id \
                     AND a.removed_at IS NULL AND a.created_by <> 'reconcile'), 0) AS BIGINT) \
                     FROM invoices i WHERE i.uuid IN",
                    5,
                    &wanted,
                )
                .await?
                .into_iter()
                .map(|(uuid, id, currency, label, owed)| (uuid, (id, currency, label, owed)))
                .collect();
            let mut waiting: HashSet<i64> = HashSet::new();
            let mut rows: Vec<(i64, i64, i64, String, String)> = Vec::new();
            // Per receipt, its lines that pay more than the invoice owed: (line, invoice, asked, applied).
            let mut excess: Vec<(i64, Vec<serde_json::Value>, Vec<String>)> = Vec::new();
            for l in &lines {
                let Some((invoice_id, inv_currency, label, owed)) = invoices.get_mut(&l.uuid)
                else {
                    waiting.insert(l.payment_id);
                    continue;
                };
                if *inv_currency != l.currency {
                    tracing::warn!(
                        payment = l.payment_id,
                        "a REP line pays in another currency than its invoice; left for review"
                    );
                    continue;
                }
                // Never more than the invoice owes: the rest is for a person, whichever arrived first.
                let asked = to_micros(l.amount)?;
                let applied = asked.min((*owed).max(0));
                *owed -= applied;
                let mut explanation = l.explanation.clone();
                if applied < asked {
                    let cur = inv_currency.as_str();
                    let m = |x: i64| format_micros(x, cur);
                    explanation.push_str(&format!(
                        "; {} applied, what invoice {label} owed; {} more is left for a person",
                        m(applied),
                        m(asked - applied)
                    ));
                    let text = format!(
                        "{} pays {} to invoice {label}, which owed {}",
                        l.key.trim_end_matches(':'),
                        m(asked),
                        m(applied)
                    );
                    let cand = serde_json::json!({
                        "invoice_uuid": l.uuid, "invoice": label, "asked": m(asked),
                        "applied": m(applied), "excess": m(asked - applied),
                    });
                    match excess.iter_mut().find(|e| e.0 == l.payment_id) {
                        Some(e) => {
                            e.1.push(cand);
                            e.2.push(text);
                        }
                        None => excess.push((l.payment_id, vec![cand], vec![text])),
                    }
                }
                if applied > 0 {
                    rows.push((
                        l.payment_id,
                        *invoice_id,
                        applied,
                        inv_currency.clone(),
                        explanation,
                    ));
                }
            }
            const COLUMNS: &str =
                "payment_id, invoice_id, amount_micros, currency, method, confidence_pct, explanation, created_by, created_at";
            for chunk in rows.chunks(LOOKUP_CHUNK / 9) {
                let sql = self.dialect().insert("allocations", COLUMNS, chunk.len());
                let mut q = sqlx::query(&sql);
                for (p, i, amount, cur, expl) in chunk {
                    q = q
                        .bind(*p)
                        .bind(*i)
                        .bind(*amount)
                        .bind(cur.clone())
                        .bind("rep")
                        .bind(100i64)
                        .bind(expl.to_string())
                        .bind("cfdi")
                        .bind(now.clone());
                }
                q.execute(&mut *tx.tx).await?;
            }
            added += rows.len() as u64;
            for (payment_id, candidates, texts) in excess {
                let reason = format!(
                    "rep_excess: {}; the excess is not applied to any invoice",
                    texts.join("; ")
                );
                self.raise_document_exception(
                    tx,
                    payment_id,
                    &reason,
                    serde_json::Value::Array(candidates),
                )
                .await?;
            }
            let touched: Vec<i64> = {
                let mut t: Vec<i64> = rows.iter().map(|r| r.1).collect();
                t.sort_unstable();
                t.dedup();
                t
            };
            self.displace_engine_allocations(tx, &touched, &now).await?;
            // Every line is applied or needs a person: the pass need not look at these receipts again.
            let done: Vec<i64> = payment_ids
                .into_iter()
                .filter(|p| !waiting.contains(p))
                .collect();
            for chunk in done.chunks(LOOKUP_CHUNK) {
                let sql = format!(
                    "UPDATE payments SET links_pending = 0 WHERE id IN ({})",
                    list(chunk.len())
                );
                let mut q = sqlx::query(&sql);
                for id in chunk {
                    q = q.bind(*id);
                }
                q.execute(&mut *tx.tx).await?;
            }
            if !full {
                break;
            }
        }
        Ok((added, removed))
    }
}
