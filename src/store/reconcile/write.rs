//! Writing a decision: one transaction, fed part by part while the engine still works (same-money links and payer
//! changes first, then allocations every few thousand, then the exceptions and the run's audit entry), committed
//! only when the last part arrives. Each statement is written once: its rows travel as one JSON text per few
//! thousand, read back by the database through the primitives of `store::dialect`.

use crate::model::reconcile::{Decision, NewAllocation, Reversal, SameMoney};
use crate::store::dialect::Dialect;
use crate::store::row::RowExt;
use crate::store::{Store, WriteTx};
use anyhow::Context;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

/// Rows per statement where rows are bound one by one (at most 4 parameters a row: far below SQLite's and
/// PostgreSQL's limits).
const BATCH: usize = 100;
/// Rows per JSON text.
const JSON_ROWS: usize = 5000;

/// A part of a run's decision, in the order the writer receives them.
pub enum DecisionPart {
    /// Final before the allocation passes: same-money links, payers identified as another customer than the
    /// one recorded (payment, customer), and returns linked to the credits they undo.
    LinksAndPayers(Vec<SameMoney>, Vec<(i64, i64)>, Vec<Reversal>),
    /// Allocations as the engine decides them, in their final order (ids follow it).
    Allocations(Vec<NewAllocation>),
    /// The whole decision (its allocations not received yet are written from it) and the allocations per method
    /// for the audit entry; the writer commits after it.
    Last(Decision, BTreeMap<String, usize>),
}

impl Store {
    /// Writes the parts of a decision as they arrive, in one transaction committed after [`DecisionPart::Last`];
    /// if the parts end before it (the engine stopped), nothing is written. Returns the engine's earlier
    /// allocations the same-money links replaced, and the allocations of returned payments removed.
    pub async fn write_decision(
        &self,
        parts: tokio::sync::mpsc::UnboundedReceiver<DecisionPart>,
    ) -> anyhow::Result<(usize, usize)> {
        let Some((off, on)) = Dialect::of(self.backend()).unchecked_foreign_keys() else {
            let tx = self.begin_write().await?;
            return self.write_parts(tx, parts).await;
        };
        // SQLite checks each new allocation's and exception's parent rows (payment, invoice) one b-tree descent
        // at a time, from a cold page cache. Every id written comes from rows this run read, and invoices and
        // payments are never deleted, so the checks are switched off for this one transaction on the writer's one
        // connection (a setting made outside a transaction), and back on before anyone else writes.
        let guard = self.write_lock.lock().await;
        sqlx::query(off).execute(self.writer()).await?;
        let res = async {
            let tx = WriteTx {
                tx: self.begin_on_writer().await?,
                _guard: None,
                uuidless_invoices: None,
                dict_ids: Default::default(),
            };
            self.write_parts(tx, parts).await
        }
        .await;
        let mut conn = self.writer().acquire().await?;
        if sqlx::query(on).execute(&mut *conn).await.is_err() {
            // Never back in the pool without its checks.
            conn.detach();
        }
        drop(guard);
        res
    }

    async fn write_parts(
        &self,
        mut tx: WriteTx<'_>,
        mut parts: tokio::sync::mpsc::UnboundedReceiver<DecisionPart>,
    ) -> anyhow::Result<(usize, usize)> {
        let now = self.now_text();
        let (mut replaced, mut returned, mut written) = (0, 0, 0);
        while let Some(part) = parts.recv().await {
            match part {
                DecisionPart::LinksAndPayers(links, customers, reversals) => {
                    returned = self.write_reversals(&mut tx, &reversals, &now).await?;
                    replaced = self.write_early(&mut tx, &links, &customers).await?;
                }
                DecisionPart::Allocations(a) => {
                    self.write_allocations(&mut tx, &a, &now).await?;
                    written += a.len();
                }
                DecisionPart::Last(d, by_method) => {
                    // What the engine decided after its last hand-over (nothing, as it hands over the end too).
                    let rest = d.allocations.get(written..).unwrap_or_default();
                    self.write_allocations(&mut tx, rest, &now).await?;
                    tracing::debug!(
                        written_during_passes = written,
                        after = rest.len(),
                        "reconcile allocations"
                    );
                    self.write_rest(tx, &d, &by_method, replaced, &now).await?;
                    return Ok((replaced, returned));
                }
            }
        }
        anyhow::bail!(
            "the reconciliation stopped before its decision was complete; nothing was written"
        )
    }

    /// The part of a decision final before the allocation passes: same-money links (and the removal of the
    /// engine's earlier allocations of those credits) and payer changes. Returns the allocations removed.
    async fn write_early(
        &self,
        tx: &mut WriteTx<'_>,
        links: &[SameMoney],
        customers: &[(i64, i64)],
    ) -> anyhow::Result<usize> {
        let now = self.now_text();
        let t = Instant::now();
        let lap = |what: &str| {
            tracing::debug!(what, ms = t.elapsed().as_millis() as u64, "reconcile write")
        };
        let backend = self.backend();
        if let Some(pragma) = Dialect::of(backend).large_write_cache() {
            // A run over a large ledger dirties more pages than the default cache holds; spilling them mid-transaction
            // costs more than the memory (set back before the connection returns to the pool).
            sqlx::query(pragma).execute(&mut *tx.tx).await?;
        }
        let p = |n: usize| Dialect::of(backend).placeholder(n);
        let (int, text) = (
            |i: usize| Dialect::of(backend).json_int(i),
            Dialect::json_text,
        );
        let mut replaced = 0usize;
        // Same money: the link is set where still unset; the engine's earlier allocations of those credits are
        // removed; one audit entry each. Runs that write hold the lease `reconcile` (and on SQLite the write lock),
        // so the links still unset when read are the ones the update sets.
        let unset_sql = format!(
            "SELECT {} FROM payments WHERE same_as_payment_id IS NULL AND id IN ({})",
            Dialect::of(backend).json_agg_values("id"),
            Dialect::of(backend).json_ints(1)
        );
        let link_sql = format!(
            "UPDATE payments SET same_as_payment_id = {} FROM {} \
             WHERE payments.id = {} AND payments.same_as_payment_id IS NULL",
            int(1),
            Dialect::of(backend).json_array_rows(1),
            int(0)
        );
        let replace_sql = format!(
            "UPDATE allocations SET removed_at = {}, removed_by = {} FROM {} \
             WHERE allocations.payment_id = {} AND allocations.removed_at IS NULL \
             AND allocations.created_by = 'reconcile'",
            p(1),
            text(2),
            Dialect::of(backend).json_array_rows(2),
            int(0)
        );
        let audit_sql = format!(
            "INSERT INTO audit_log (at, actor, action, entity, entity_id, detail) \
             SELECT {}, 'reconcile', 'same_money', 'payment', CAST({} AS TEXT), {} FROM {} ORDER BY j.key",
            p(1),
            text(0),
            text(3),
            Dialect::of(backend).json_array_rows(2)
        );
        let mut links: Vec<&SameMoney> = links.iter().collect();
        links.sort_by_key(|l| l.payment_id);
        for chunk in links.chunks(JSON_ROWS) {
            let ids: Vec<i64> = chunk.iter().map(|l| l.payment_id).collect();
            let unset: String = sqlx::query_scalar(&unset_sql)
                .bind(serde_json::to_string(&ids)?)
                .fetch_one(&mut *tx.tx)
                .await?;
            let unset: HashSet<i64> = serde_json::from_str::<Vec<i64>>(&unset)?
                .into_iter()
                .collect();
            let done: Vec<(i64, i64, String, String)> = chunk
                .iter()
                .filter(|l| unset.contains(&l.payment_id))
                .map(|l| {
                    (
                        l.payment_id,
                        l.same_as,
                        format!("reconcile: same money as payment {}", l.same_as),
                        serde_json::json!({"same_as": l.same_as, "explanation": l.explanation})
                            .to_string(),
                    )
                })
                .collect();
            if done.is_empty() {
                continue;
            }
            let rows = serde_json::to_string(&done)?;
            sqlx::query(&link_sql)
                .bind(rows.clone())
                .execute(&mut *tx.tx)
                .await?;
            replaced += sqlx::query(&replace_sql)
                .bind(now.clone())
                .bind(rows.clone())
                .execute(&mut *tx.tx)
                .await?
                .rows_affected() as usize;
            sqlx::query(&audit_sql)
                .bind(now.clone())
                .bind(rows)
                .execute(&mut *tx.tx)
                .await?;
        }
        lap("same money");
        // Payer identified: payments.customer_id set where it changes, in key order (each row's page is visited
        // once, in file order), a JSON text per few thousand (one bound value instead of two per row, and a join
        // on the key instead of a `CASE` searched row by row).
        let mut payers = customers.to_vec();
        payers.sort_unstable();
        let payer_sql = format!(
            "UPDATE payments SET customer_id = {} FROM {} WHERE payments.id = {}",
            int(1),
            Dialect::of(backend).json_array_rows(1),
            int(0)
        );
        for chunk in payers.chunks(JSON_ROWS) {
            sqlx::query(&payer_sql)
                .bind(serde_json::to_string(chunk)?)
                .execute(&mut *tx.tx)
                .await?;
        }
        lap("customers");
        Ok(replaced)
    }

    /// Returns linked to the credits they undo: one `reversals` row each (a return already linked is skipped), the
    /// credit's live allocations removed where the engine says so (`removed_by = reconcile: returned by payment
    /// N`, whoever made them: the money is gone; the outbox publishes `allocation.removed` for each), and an audit
    /// entry each. Few rows: one statement per reversal. Returns the allocations removed.
    async fn write_reversals(
        &self,
        tx: &mut WriteTx<'_>,
        reversals: &[Reversal],
        now: &str,
    ) -> anyhow::Result<usize> {
        let mut removed = 0usize;
        let insert = Dialect::of(self.backend()).insert_ignore(
            "reversals",
            "reversal_payment_id, payment_id, amount_micros, explanation, created_at",
            1,
            Some("reversal_payment_id"),
        );
        for r in reversals {
            let written = sqlx::query(&insert)
                .bind(r.reversal_payment_id)
                .bind(r.payment_id)
                .bind(r.amount)
                .bind(r.explanation.clone())
                .bind(now.to_string())
                .execute(&mut *tx.tx)
                .await
                .context("writing a reversal")?
                .rows_affected();
            if written == 0 {
                continue;
            }
            let mut undone = 0;
            if r.remove_allocations {
                undone = sqlx::query(
                    "UPDATE allocations SET removed_at = $1, removed_by = $2 \
                     WHERE payment_id = $3 AND removed_at IS NULL",
                )
                .bind(now.to_string())
                .bind(format!(
                    "reconcile: returned by payment {}",
                    r.reversal_payment_id
                ))
                .bind(r.payment_id)
                .execute(&mut *tx.tx)
                .await?
                .rows_affected() as usize;
                removed += undone;
            }
            self.audit(
                tx,
                "reconcile",
                "reversal",
                "payment",
                &r.payment_id.to_string(),
                serde_json::json!({
                    "reversal_payment_id": r.reversal_payment_id,
                    "amount_micros": r.amount,
                    "allocations_removed": undone,
                    "explanation": r.explanation,
                }),
            )
            .await?;
        }
        Ok(removed)
    }

    /// Inserts allocations the engine decided (in their order: ids follow it).
    async fn write_allocations(
        &self,
        tx: &mut WriteTx<'_>,
        allocations: &[NewAllocation],
        now: &str,
    ) -> anyhow::Result<()> {
        if allocations.is_empty() {
            return Ok(());
        }
        let backend = self.backend();
        let (int, text) = (
            |i: usize| Dialect::of(backend).json_int(i),
            Dialect::json_text,
        );
        let json_of = |chunk: &[NewAllocation]| {
            let rows: Vec<_> = chunk
                .iter()
                .map(|a| {
                    (
                        a.payment_id,
                        a.invoice_id,
                        a.amount,
                        &a.currency,
                        a.method,
                        a.confidence,
                        &a.explanation,
                    )
                })
                .collect();
            serde_json::to_string(&rows)
        };
        let sql = format!(
            "INSERT INTO allocations (payment_id, invoice_id, amount_micros, currency, method, confidence_pct, \
             explanation, created_by, created_at) \
             SELECT {}, {}, {}, {}, {}, {}, {}, 'reconcile', {} FROM {} ORDER BY j.key",
            int(0),
            int(1),
            int(2),
            text(3),
            text(4),
            int(5),
            text(6),
            Dialect::of(backend).placeholder(1),
            Dialect::of(backend).json_array_rows(2)
        );
        // Each chunk's JSON is built while the database inserts the one before (the statement goes to the
        // connection on the first poll; the next chunk is serialized on this thread meanwhile).
        let mut chunks = allocations.chunks(JSON_ROWS);
        let mut next = chunks.next().map(json_of).transpose()?;
        while let Some(json) = next.take() {
            let insert = sqlx::query(&sql)
                .bind(now.to_string())
                .bind(json)
                .execute(&mut *tx.tx);
            let (done, following) =
                tokio::join!(insert, async { chunks.next().map(json_of).transpose() });
            done.context("writing allocations")?;
            next = following?;
        }
        Ok(())
    }

    /// The rest of a decision: exceptions (dropped when decided now, written when new or changed), the run's audit
    /// entry; then the commit.
    async fn write_rest(
        &self,
        mut tx: WriteTx<'_>,
        d: &Decision,
        by_method: &BTreeMap<String, usize>,
        replaced: usize,
        now: &str,
    ) -> anyhow::Result<()> {
        // The engine's own exceptions; those the documents raised (origin `documents`) are a person's to clear,
        // never deleted or rewritten here.
        let mut existing: HashMap<i64, (String, String)> = HashMap::new();
        let mut documents: HashSet<i64> = HashSet::new();
        for r in sqlx::query("SELECT payment_id, reason, candidates, origin FROM exceptions")
            .fetch_all(self.pool())
            .await?
        {
            let id = r.int("payment_id")?;
            if r.text_or_default("origin")? == "reconcile" {
                existing.insert(
                    id,
                    (
                        r.text_or_default("reason")?,
                        r.text_or_default("candidates")?,
                    ),
                );
            } else {
                documents.insert(id);
            }
        }
        let t = Instant::now();
        let lap = |what: &str| {
            tracing::debug!(what, ms = t.elapsed().as_millis() as u64, "reconcile write")
        };
        let backend = self.backend();
        let now = now.to_string();
        let wanted: HashMap<i64, (String, String)> = d
            .exceptions
            .iter()
            .map(|e| (e.payment_id, (e.reason.clone(), e.candidates.to_string())))
            .collect();
        let mut gone: Vec<i64> = existing
            .keys()
            .copied()
            .filter(|k| !wanted.contains_key(k))
            .collect();
        gone.sort_unstable();
        for chunk in gone.chunks(BATCH * 3) {
            let sql = format!(
                "DELETE FROM exceptions WHERE origin = 'reconcile' AND payment_id IN ({})",
                Dialect::of(backend).placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            q.execute(&mut *tx.tx).await?;
        }
        let mut upserts: Vec<(&i64, &(String, String))> = wanted
            .iter()
            .filter(|(k, v)| existing.get(*k) != Some(*v) && !documents.contains(*k))
            .collect();
        upserts.sort_by_key(|(k, _)| **k);
        for chunk in upserts.chunks(BATCH) {
            let mut sql = Dialect::of(backend).insert(
                "exceptions",
                "payment_id, reason, candidates, updated_at",
                chunk.len(),
            );
            // An exception the documents raised (origin `documents`) is a person's to clear, never the engine's.
            sql.push_str(
                " ON CONFLICT (payment_id) DO UPDATE SET reason = excluded.reason, candidates = excluded.candidates, \
                 updated_at = excluded.updated_at WHERE exceptions.origin = 'reconcile'",
            );
            let mut q = sqlx::query(&sql);
            for (id, (reason, cands)) in chunk {
                q = q
                    .bind(**id)
                    .bind(reason.clone())
                    .bind(cands.clone())
                    .bind(now.clone());
            }
            q.execute(&mut *tx.tx).await?;
        }
        if !d.allocations.is_empty()
            || !d.links.is_empty()
            || !d.reversals.is_empty()
            || !gone.is_empty()
            || !upserts.is_empty()
        {
            self.audit(
                &mut tx,
                "reconcile",
                "reconcile",
                "ledger",
                "",
                serde_json::json!({
                    "allocations": d.allocations.len(),
                    "by_method": by_method,
                    "same_money_links": d.links.len(),
                    "reversals": d.reversals.len(),
                    "allocations_replaced": replaced,
                    "exceptions": d.exceptions.len(),
                }),
            )
            .await?;
        }
        lap("exceptions");
        if let Some(pragma) = Dialect::of(backend).normal_write_cache() {
            // Back to the pool's size (dirty pages stay until the commit writes them).
            sqlx::query(pragma).execute(&mut *tx.tx).await?;
        }
        tx.tx
            .commit()
            .await
            .context("committing the reconciliation")?;
        lap("committed");
        Ok(())
    }
}
