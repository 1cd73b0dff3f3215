//! Allocations that follow the documents. A substitute CFDI (TipoRelacion 04) of the same amount and currency takes
//! over the live allocations of the invoice it replaces (each moved: removed there, created on the substitute,
//! audited; the outbox publishes both changes); when the amounts differ, each payment is an exception for a person
//! and its money stays where it was. A document's allocation (REP) displaces the engine's guesses on an invoice
//! it leaves over-paid. Both run inside `Store::link_documents`, so they are idempotent and order-independent.

use super::doc_exceptions::DOCUMENTS;
use super::row::RowExt;
use super::{Store, WriteTx};
use cuadra_sdk::format_micros;
use sqlx::Row;

/// Links of a chain followed in one pass at most (A → B → C ... arriving together).
const MAX_CHAIN: usize = 8;

/// One invoice as the substitution pass needs it.
struct Side {
    id: i64,
    uuid: String,
    label: String,
    currency: String,
    total: i64,
}

/// The lower-cased UUIDs of a `replaces` JSON list (an unreadable list is empty).
fn uuids(json: &str) -> Vec<String> {
    serde_json::from_str::<Vec<String>>(json)
        .unwrap_or_default()
        .into_iter()
        .map(|u| u.to_lowercase())
        .collect()
}

/// `SERIE-FOLIO`, the folio, or the UUID: how an invoice is named in explanations.
const LABEL_SQL: &str =
    "CASE WHEN COALESCE(serie, '') = '' THEN COALESCE(folio, uuid) ELSE serie || '-' || COALESCE(folio, uuid) END";

impl Store {
    /// Moves the allocations of superseded invoices to their substitutes (same amount), or raises an exception
    /// per payment (amounts differ). Returns the allocations moved.
    pub(in crate::store) async fn follow_substitutions(
        &self,
        tx: &mut WriteTx<'_>,
    ) -> anyhow::Result<u64> {
        let mut moved = 0;
        for _ in 0..MAX_CHAIN {
            let n = self.follow_substitutions_once(tx).await?;
            moved += n;
            if n == 0 {
                break;
            }
        }
        Ok(moved)
    }

    async fn follow_substitutions_once(&self, tx: &mut WriteTx<'_>) -> anyhow::Result<u64> {
        // The substitutes, through the partial index `invoices_replacing` (few), then each replaced invoice that
        // still carries live allocations.
        let substitutes = sqlx::query(&format!(
            "SELECT id, uuid, {LABEL_SQL} AS label, currency, total_micros, replaces FROM invoices \
             WHERE replaces <> '[]' AND COALESCE(uuid, '') <> '' AND sat_state = 'vigente'"
        ))
        .fetch_all(&mut *tx.tx)
        .await?;
        let side = |r: &sqlx::any::AnyRow| -> anyhow::Result<Side> {
            Ok(Side {
                id: r.int("id")?,
                uuid: r.text("uuid")?,
                label: r.text("label")?,
                currency: r.text("currency")?,
                total: r.int("total_micros")?,
            })
        };
        let now = self.now_text();
        let mut moved = 0u64;
        for r in &substitutes {
            let new = side(r)?;
            // The invoices it replaces, and those they replaced in turn: A → B → C hands A's money to C even
            // when B was cancelled before C arrived. By UUID (unique index), as far as `MAX_CHAIN` links.
            let mut stack: Vec<(String, String, usize)> = uuids(&r.text("replaces")?)
                .into_iter()
                .map(|u| (u, new.uuid.clone(), 1))
                .collect();
            while let Some((old_uuid, by, depth)) = stack.pop() {
                let old = sqlx::query(&format!(
                    "SELECT id, uuid, {LABEL_SQL} AS label, currency, total_micros, replaces FROM invoices \
                     WHERE uuid = $1 AND superseded_by = $2 AND id <> $3"
                ))
                .bind(&old_uuid)
                .bind(&by)
                .bind(new.id)
                .fetch_optional(&mut *tx.tx)
                .await?;
                let Some(o) = old else { continue };
                let old = side(&o)?;
                moved += self.follow_one(tx, &old, &new, &now).await?;
                if depth < MAX_CHAIN {
                    stack.extend(
                        uuids(&o.text("replaces")?)
                            .into_iter()
                            .map(|u| (u, old.uuid.clone(), depth + 1)),
                    );
                }
            }
        }
        Ok(moved)
    }

    /// Moves `old`'s live allocations to `new` when both say the same amount in the same currency and `new` has
    /// room for them; otherwise each payment is an exception for a person.
    async fn follow_one(
        &self,
        tx: &mut WriteTx<'_>,
        old: &Side,
        new: &Side,
        now: &str,
    ) -> anyhow::Result<u64> {
        let allocations = sqlx::query(
            "SELECT id, payment_id, amount_micros, currency, method, confidence_pct, explanation, created_by \
             FROM allocations WHERE invoice_id = $1 AND removed_at IS NULL ORDER BY id",
        )
        .bind(old.id)
        .fetch_all(&mut *tx.tx)
        .await?;
        if allocations.is_empty() {
            return Ok(0);
        }
        let moving: i64 = allocations
            .iter()
            .map(|a| a.int("amount_micros"))
            .sum::<anyhow::Result<i64>>()?;
        // What the substitute still owes (one invoice: its own rows through the indexes, not the whole view).
        let owed: i64 = sqlx::query(
            "SELECT i.total_micros - CAST(COALESCE((SELECT SUM(ca.amount_micros) FROM credit_applications ca \
             JOIN credits cr ON cr.id = ca.credit_id WHERE ca.invoice_id = i.id AND cr.sat_state = 'vigente'), 0) \
             AS BIGINT) - CAST(COALESCE((SELECT SUM(a.amount_micros) FROM allocations a WHERE a.invoice_id = i.id \
             AND a.removed_at IS NULL), 0) AS BIGINT) FROM invoices i WHERE i.id = $1",
        )
        .bind(new.id)
        .fetch_optional(&mut *tx.tx)
        .await?
        .map(|r| r.try_get::<i64, _>(0))
        .transpose()?
        .unwrap_or(0);
        let m = |x: i64, cur: &str| format_micros(x, cur);
        let same = old.currency == new.currency && old.total == new.total;
        if !same || moving > owed {
            let why = if same {
                format!(
                    "its substitute {} owes only {} {}",
                    new.label,
                    m(owed, &new.currency),
                    new.currency
                )
            } else {
                format!(
                    "its substitute {} is for {} {} instead of {} {}",
                    new.label,
                    m(new.total, &new.currency),
                    new.currency,
                    m(old.total, &old.currency),
                    old.currency
                )
            };
            for a in &allocations {
                let cur = a.text("currency")?;
                let reason = format!(
                    "substitution_differs: invoice {} (paid {} {cur} by this payment) was replaced by {} \
                     (CFDI relacionado 04) and {why}: the money stays on {} until a person decides",
                    old.label,
                    m(a.int("amount_micros")?, &cur),
                    new.label,
                    old.label
                );
                let candidates = serde_json::json!([
                    {"invoice_uuid": old.uuid, "invoice": old.label, "role": "replaced"},
                    {"invoice_uuid": new.uuid, "invoice": new.label, "role": "substitute"},
                ]);
                self.raise_document_exception(tx, a.int("payment_id")?, &reason, candidates)
                    .await?;
            }
            return Ok(0);
        }
        for a in &allocations {
            let (id, payment_id) = (a.int("id")?, a.int("payment_id")?);
            let cur = a.text("currency")?;
            let amount = a.int("amount_micros")?;
            sqlx::query("UPDATE allocations SET removed_at = $1, removed_by = $2 WHERE id = $3")
                .bind(now)
                .bind(format!("substitution: moved to {}", new.uuid))
                .bind(id)
                .execute(&mut *tx.tx)
                .await?;
            let explanation = format!(
                "invoice {} was replaced by {} (CFDI relacionado 04, same amount {} {}): the payment follows it; \
                 before: {}",
                old.label,
                new.label,
                m(new.total, &new.currency),
                new.currency,
                a.text("explanation")?
            );
            let new_id: i64 = sqlx::query(
                "INSERT INTO allocations (payment_id, invoice_id, amount_micros, currency, method, confidence_pct, \
                 explanation, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            )
            .bind(payment_id)
            .bind(new.id)
            .bind(amount)
            .bind(&cur)
            .bind(a.text("method")?)
            .bind(a.int("confidence_pct")?)
            .bind(explanation)
            .bind(a.text("created_by")?)
            .bind(now)
            .fetch_one(&mut *tx.tx)
            .await?
            .try_get(0)?;
            self.audit(
                tx,
                DOCUMENTS,
                "follow_substitution",
                "allocation",
                &new_id.to_string(),
                serde_json::json!({
                    "payment_id": payment_id, "from_allocation": id, "from_invoice": old.uuid,
                    "to_invoice": new.uuid, "amount": m(amount, &cur),
                }),
            )
            .await?;
        }
        Ok(allocations.len() as u64)
    }

    /// On each of `invoices` left over-paid (a document's allocation arrived after the engine's), removes the
    /// engine's allocations, newest first, until the balance is not negative: the documents win over guesses,
    /// and the payment is examined again by the next reconcile run.
    pub(in crate::store) async fn displace_engine_allocations(
        &self,
        tx: &mut WriteTx<'_>,
        invoices: &[i64],
        now: &str,
    ) -> anyhow::Result<u64> {
        let over: Vec<(i64, i64)> = self
            .rows_in::<(i64, i64), _>(
                tx,
                "SELECT i.id, i.total_micros - CAST(COALESCE((SELECT SUM(ca.amount_micros) FROM credit_applications ca \
                 JOIN credits cr ON cr.id = ca.credit_id WHERE ca.invoice_id = i.id AND cr.sat_state = 'vigente'), 0) AS BIGINT) \
                 - CAST(COALESCE((SELECT SUM(a.amount_micros) FROM allocations a WHERE a.invoice_id = i.id \
                 AND a.removed_at IS NULL), 0) AS BIGINT) FROM invoices i WHERE i.id IN",
                2,
                invoices,
            )
            .await?
            .into_iter()
            .filter(|(_, balance)| *balance < 0)
            .collect();
        let mut removed = 0;
        for (invoice_id, mut balance) in over {
            let guesses = sqlx::query(
                "SELECT id, payment_id, amount_micros FROM allocations WHERE invoice_id = $1 \
                 AND removed_at IS NULL AND created_by = 'reconcile' ORDER BY id DESC",
            )
            .bind(invoice_id)
            .fetch_all(&mut *tx.tx)
            .await?;
            for g in guesses {
                if balance >= 0 {
                    break;
                }
                let id = g.int("id")?;
                sqlx::query(
                    "UPDATE allocations SET removed_at = $1, removed_by = $2 WHERE id = $3",
                )
                .bind(now)
                .bind("documents: the invoice is paid by its REP")
                .bind(id)
                .execute(&mut *tx.tx)
                .await?;
                self.audit(
                    tx,
                    DOCUMENTS,
                    "displace",
                    "allocation",
                    &id.to_string(),
                    serde_json::json!({"payment_id": g.int("payment_id")?, "invoice_id": invoice_id,
                        "reason": "the invoice is paid by its REP"}),
                )
                .await?;
                balance += g.int("amount_micros")?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}
