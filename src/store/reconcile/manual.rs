//! What a person does by hand: the exceptions report, finding an invoice by reference, `cuadra match` (audited,
//! teaching the engine the payer's account and name) and `cuadra unmatch` (the pair is never proposed again).

use crate::store::row::RowExt;
use crate::store::{money, normalize_account, Store, Table, WriteTx};
use sqlx::Row;

/// `removed_by` prefix of a person's unmatch: such a pair is never proposed again by the engine.
const MANUAL_REMOVAL: &str = "manual";

pub const EXCEPTION_COLUMNS: &[&str] = &[
    "payment_id",
    "date",
    "currency",
    "amount",
    "payer_name",
    "reason",
    "candidates",
];

/// What `cuadra match` decided, for printing.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ManualMatch {
    pub allocation_ids: Vec<i64>,
    pub aliases_learned: Vec<String>,
}

impl Store {
    /// The exceptions report: payments the engine could not decide, with reason and ranked candidates.
    pub async fn report_exceptions(&self) -> anyhow::Result<Table> {
        let rows = sqlx::query(
            "SELECT e.payment_id, p.booked_on, p.currency, p.amount_micros, p.payer_name, e.reason, e.candidates \
             FROM exceptions e JOIN payments p ON p.id = e.payment_id ORDER BY p.booked_on, e.payment_id",
        )
        .fetch_all(self.pool())
        .await?;
        let rows = rows
            .iter()
            .map(|r| {
                let cur = r.text_or_default("currency")?;
                anyhow::Ok(vec![
                    r.int_or_zero("payment_id")?.to_string(),
                    r.text_or_default("booked_on")?,
                    cur.clone(),
                    money(r.int_or_zero("amount_micros")?, &cur),
                    r.text_or_default("payer_name")?,
                    r.text_or_default("reason")?,
                    r.text_or_default("candidates")?,
                ])
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Table {
            columns: EXCEPTION_COLUMNS.to_vec(),
            rows,
        })
    }

    /// Finds an invoice by UUID, `SERIE-FOLIO` or folio (unique).
    pub async fn find_invoice_ref(&self, r: &str) -> anyhow::Result<Option<i64>> {
        let r = r.trim();
        if let Some(row) = sqlx::query("SELECT id FROM invoices WHERE uuid = $1")
            .bind(r.to_lowercase())
            .fetch_optional(self.pool())
            .await?
        {
            return Ok(Some(row.try_get(0)?));
        }
        let rows = sqlx::query(
            "SELECT id FROM invoices WHERE (COALESCE(serie, '') || '-' || COALESCE(folio, '')) = $1 \
             OR (COALESCE(serie, '') || COALESCE(folio, '')) = $1 OR (folio = $1 AND COALESCE(serie, '') = '')",
        )
        .bind(r.to_uppercase())
        .fetch_all(self.pool())
        .await?;
        if rows.len() == 1 {
            return Ok(Some(rows[0].try_get(0)?));
        }
        if rows.len() > 1 {
            anyhow::bail!(
                "invoice {r} is ambiguous ({} invoices); give its UUID",
                rows.len()
            );
        }
        let rows = sqlx::query("SELECT id FROM invoices WHERE folio = $1")
            .bind(r)
            .fetch_all(self.pool())
            .await?;
        match rows.len() {
            0 => Ok(None),
            1 => Ok(Some(rows[0].try_get(0)?)),
            n => anyhow::bail!(
                "invoice {r} is ambiguous ({n} invoices); give its UUID or SERIE-FOLIO"
            ),
        }
    }

    /// A person's decision: `payment` pays these invoices (amount `None` = as much as both allow). Teaches the
    /// engine the payer's account and name when they were not known for the invoice's customer.
    pub async fn manual_match(
        &self,
        payment_id: i64,
        lines: &[(i64, Option<i64>)],
        actor: &str,
    ) -> anyhow::Result<ManualMatch> {
        let mut tx = self.begin_write().await?;
        let p = sqlx::query(
            "SELECT p.currency, p.amount_micros, p.payer_name, p.payer_account, p.sat_state, \
             CAST(COALESCE((SELECT SUM(a.amount_micros) FROM allocations a WHERE a.payment_id = p.id \
               AND a.removed_at IS NULL), 0) AS BIGINT) AS allocated FROM payments p WHERE p.id = $1",
        )
        .bind(payment_id)
        .fetch_optional(&mut *tx.tx)
        .await?
        .ok_or_else(|| anyhow::anyhow!("payment {payment_id}: no such payment"))?;
        let currency = p.text_or_default("currency")?;
        let amount = p.int_or_zero("amount_micros")?;
        anyhow::ensure!(amount > 0, "payment {payment_id} is not money received");
        let mut left = amount - p.int_or_zero("allocated")?;
        let now = self.now_text();
        let mut out = ManualMatch {
            allocation_ids: vec![],
            aliases_learned: vec![],
        };
        let mut customers: Vec<String> = Vec::new();
        for (invoice_id, want) in lines {
            let inv = sqlx::query(
                "SELECT i.uuid, i.currency, i.customer_rfc, i.customer_name, i.sat_state, i.superseded_by, \
                 CAST(i.total_micros - COALESCE((SELECT SUM(ca.amount_micros) FROM credit_applications ca \
                   JOIN credits cr ON cr.id = ca.credit_id WHERE ca.invoice_id = i.id AND cr.sat_state = 'vigente'), 0) \
                   - COALESCE((SELECT SUM(a.amount_micros) FROM allocations a WHERE a.invoice_id = i.id \
                   AND a.removed_at IS NULL), 0) AS BIGINT) AS open_micros FROM invoices i WHERE i.id = $1",
            )
            .bind(*invoice_id)
            .fetch_optional(&mut *tx.tx)
            .await?
            .ok_or_else(|| anyhow::anyhow!("invoice {invoice_id}: no such invoice"))?;
            let label = inv
                .opt_text("uuid")?
                .unwrap_or_else(|| invoice_id.to_string());
            let inv_cur = inv.text_or_default("currency")?;
            anyhow::ensure!(
                inv_cur == currency,
                "invoice {label} is in {inv_cur}, payment {payment_id} in {currency}"
            );
            anyhow::ensure!(
                inv.text_or_default("sat_state")? != "cancelado"
                    && inv.opt_text("superseded_by")?.is_none(),
                "invoice {label} is cancelled"
            );
            let open = inv.int_or_zero("open_micros")?;
            let amt = want.unwrap_or_else(|| open.min(left));
            anyhow::ensure!(
                amt > 0,
                "nothing left to apply to invoice {label} (balance {}, payment unallocated {})",
                money(open, &currency),
                money(left, &currency)
            );
            anyhow::ensure!(
                amt <= left,
                "payment {payment_id} has only {} unallocated, {} asked",
                money(left, &currency),
                money(amt, &currency)
            );
            anyhow::ensure!(
                amt <= open,
                "invoice {label} owes {}, {} asked",
                money(open, &currency),
                money(amt, &currency)
            );
            left -= amt;
            let id: i64 = sqlx::query(
                "INSERT INTO allocations (payment_id, invoice_id, amount_micros, currency, method, confidence_pct, \
                 explanation, created_by, created_at) VALUES ($1, $2, $3, $4, 'manual', 100, $5, 'manual', $6) RETURNING id",
            )
            .bind(payment_id)
            .bind(*invoice_id)
            .bind(amt)
            .bind(&currency)
            .bind(format!("matched by {actor}"))
            .bind(&now)
            .fetch_one(&mut *tx.tx)
            .await?
            .try_get(0)?;
            self.audit(
                &mut tx,
                actor,
                "match",
                "allocation",
                &id.to_string(),
                serde_json::json!({"payment_id": payment_id, "invoice": label, "amount": money(amt, &currency)}),
            )
            .await?;
            out.allocation_ids.push(id);
            if let Some(rfc) = inv.opt_text("customer_rfc")? {
                if !customers.contains(&rfc) {
                    customers.push(rfc.clone());
                }
            }
        }
        sqlx::query("DELETE FROM exceptions WHERE payment_id = $1")
            .bind(payment_id)
            .execute(&mut *tx.tx)
            .await?;
        // Learning: only when the invoices belong to one customer.
        if let [rfc] = customers.as_slice() {
            let cid = self.customer_for_rfc(&mut tx, rfc, payment_id).await?;
            let mut learn: Vec<(&str, String)> = Vec::new();
            if let Some(acct) = p.opt_text("payer_account")?.map(|a| normalize_account(&a)) {
                if !acct.is_empty() {
                    learn.push(("account", acct));
                }
            }
            if let Some(name) = p.opt_text("payer_name")?.filter(|n| !n.trim().is_empty()) {
                learn.push(("name", name.trim().to_string()));
            }
            for (kind, value) in learn {
                let n = sqlx::query(
                    "INSERT INTO customer_aliases (customer_id, kind, value, source, created_at) \
                     VALUES ($1, $2, $3, 'manual', $4) ON CONFLICT (kind, value, customer_id) DO NOTHING",
                )
                .bind(cid)
                .bind(kind)
                .bind(&value)
                .bind(&now)
                .execute(&mut *tx.tx)
                .await?
                .rows_affected();
                if n > 0 {
                    self.audit(
                        &mut tx,
                        actor,
                        "learn_alias",
                        "customer",
                        rfc,
                        serde_json::json!({"kind": kind, "value": value, "from_payment": payment_id}),
                    )
                    .await?;
                    out.aliases_learned.push(format!("{kind} {value} → {rfc}"));
                }
            }
            sqlx::query("UPDATE payments SET customer_id = $1 WHERE id = $2")
                .bind(cid)
                .bind(payment_id)
                .execute(&mut *tx.tx)
                .await?;
        }
        tx.tx.commit().await?;
        Ok(out)
    }

    /// The master's customer for an RFC; creates a minimal one (named as on its invoices) when the master lacks
    /// it, so a learned alias has a customer to belong to. A later customer import completes it.
    async fn customer_for_rfc(
        &self,
        tx: &mut WriteTx<'_>,
        rfc: &str,
        payment_id: i64,
    ) -> anyhow::Result<i64> {
        if let Some(r) = sqlx::query("SELECT id FROM customers WHERE rfc = $1 ORDER BY id LIMIT 1")
            .bind(rfc)
            .fetch_optional(&mut *tx.tx)
            .await?
        {
            return Ok(r.try_get(0)?);
        }
        let name: String = sqlx::query(
            "SELECT COALESCE(MIN(customer_name), $1) FROM invoices WHERE customer_rfc = $1",
        )
        .bind(rfc)
        .fetch_one(&mut *tx.tx)
        .await?
        .try_get(0)?;
        let now = self.now_text();
        let id: i64 = sqlx::query(
            "INSERT INTO customers (customer_key, rfc, name, content_hash, created_at, updated_at) \
             VALUES ($1, $1, $2, '', $3, $3) RETURNING id",
        )
        .bind(rfc)
        .bind(&name)
        .bind(&now)
        .fetch_one(&mut *tx.tx)
        .await?
        .try_get(0)?;
        self.audit(
            tx,
            "reconcile",
            "create",
            "customer",
            rfc,
            serde_json::json!({"name": name, "reason": format!("manual match of payment {payment_id}")}),
        )
        .await?;
        Ok(id)
    }

    /// A person removes an allocation: balances are restored and the engine never proposes the pair again.
    pub async fn unmatch(&self, allocation_id: i64, actor: &str) -> anyhow::Result<()> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "SELECT payment_id, invoice_id, amount_micros, currency, method, removed_at FROM allocations WHERE id = $1",
        )
        .bind(allocation_id)
        .fetch_optional(&mut *tx.tx)
        .await?
        .ok_or_else(|| anyhow::anyhow!("allocation {allocation_id}: no such allocation"))?;
        anyhow::ensure!(
            row.opt_text("removed_at")?.is_none(),
            "allocation {allocation_id} was already removed"
        );
        sqlx::query("UPDATE allocations SET removed_at = $1, removed_by = $2 WHERE id = $3")
            .bind(self.now_text())
            .bind(format!("{MANUAL_REMOVAL}: {actor}"))
            .bind(allocation_id)
            .execute(&mut *tx.tx)
            .await?;
        let cur = row.text_or_default("currency")?;
        self.audit(
            &mut tx,
            actor,
            "unmatch",
            "allocation",
            &allocation_id.to_string(),
            serde_json::json!({
                "payment_id": row.int_or_zero("payment_id")?,
                "invoice_id": row.int_or_zero("invoice_id")?,
                "amount": money(row.int_or_zero("amount_micros")?, &cur),
                "method": row.text_or_default("method")?,
            }),
        )
        .await?;
        tx.tx.commit().await?;
        Ok(())
    }
}
