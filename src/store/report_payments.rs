//! `cuadra report payments`: each payment with what of it is applied, the money counted once.
//!
//! - An allocation in another currency than its payment (an MXN REP paying a USD invoice) counts in the payment's
//!   currency at the REP line's `EquivalenciaDR` (invoice units per payment unit), rounded to the cent and never
//!   above the payment.
//! - A bank credit that is the same money as another payment (`same_as_payment_id`) shows that payment's id in the
//!   column `same_as_payment_id` and `0.00` allocated and unallocated: its money is counted on that payment's row.
//! - A payment returned or refunded (in whole or part: `reversals`) shows what was undone in `returned` and the
//!   undoing movements' ids in `returned_by` (`;`-separated); `unallocated` is what is left of it less what is
//!   allocated. The undoing movements (debits) are not rows of their own.

use super::reports::{money, Table, PAYMENT_COLUMNS};
use super::row::RowExt;
use super::Store;
use cuadra_sdk::{from_micros, to_micros, InvoiceRef, RemittanceLine};
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::HashMap;

impl Store {
    pub async fn report_payments(&self) -> anyhow::Result<Table> {
        let rows = sqlx::query(
            "SELECT p.id, p.source, p.external_id, p.booked_on, p.currency, p.amount_micros, p.payer_name, \
             p.payer_rfc, p.payer_account, p.referencia_numerica, p.clave_rastreo, p.bank_reference, \
             p.same_as_payment_id, \
             CAST(COALESCE((SELECT SUM(a.amount_micros) FROM allocations a WHERE a.payment_id = p.id AND a.removed_at IS NULL \
                AND a.currency = p.currency), 0) AS BIGINT) AS allocated, \
             CASE WHEN EXISTS (SELECT 1 FROM allocations a WHERE a.payment_id = p.id AND a.removed_at IS NULL \
                AND a.currency <> p.currency) THEN p.remittance ELSE NULL END AS foreign_remittance \
             FROM payments p WHERE p.amount_micros > 0 AND p.sat_state = 'vigente' ORDER BY p.booked_on, p.id",
        )
        .fetch_all(self.pool())
        .await?;
        let foreign = self.foreign_allocations().await?;
        let mut returned: HashMap<i64, (i64, Vec<String>)> = HashMap::new();
        for r in sqlx::query(
            "SELECT payment_id, reversal_payment_id, amount_micros FROM reversals ORDER BY reversal_payment_id",
        )
        .fetch_all(self.pool())
        .await?
        {
            let e = returned.entry(r.int("payment_id")?).or_default();
            e.0 += r.int("amount_micros")?;
            e.1.push(r.int("reversal_payment_id")?.to_string());
        }
        let rows = rows
            .iter()
            .map(|r| {
                let id = r.int("id")?;
                let cur = r.text("currency")?;
                let amount = r.int("amount_micros")?;
                let same_as = r.opt_int("same_as_payment_id")?;
                let mut allocated = r.int("allocated")?;
                if let (Some(rem), Some(allocs)) =
                    (r.opt_text("foreign_remittance")?, foreign.get(&id))
                {
                    allocated += in_payment_currency(&rem, allocs)?;
                }
                let (gone, by) = returned.remove(&id).unwrap_or_default();
                let allocated = allocated.min(amount);
                let (allocated, unallocated) = match same_as {
                    Some(_) => (0, 0),
                    None => (allocated, amount - gone - allocated),
                };
                let reference = r
                    .opt_text("referencia_numerica")?
                    .or(r.opt_text("clave_rastreo")?)
                    .or(r.opt_text("bank_reference")?)
                    .unwrap_or_default();
                Ok(vec![
                    id.to_string(),
                    r.text("source")?,
                    r.text("external_id")?,
                    r.text("booked_on")?,
                    cur.clone(),
                    money(amount, &cur),
                    money(allocated, &cur),
                    money(unallocated, &cur),
                    r.text_or_default("payer_name")?,
                    r.text_or_default("payer_rfc")?,
                    r.text_or_default("payer_account")?,
                    reference,
                    same_as.map(|n| n.to_string()).unwrap_or_default(),
                    money(gone, &cur),
                    by.join(";"),
                ])
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Table {
            columns: PAYMENT_COLUMNS.to_vec(),
            rows,
        })
    }

    /// Active allocations in another currency than their payment: payment id → (invoice UUID, micros).
    async fn foreign_allocations(&self) -> anyhow::Result<HashMap<i64, Vec<(String, i64)>>> {
        let rows = sqlx::query(
            "SELECT a.payment_id, i.uuid, a.amount_micros FROM allocations a JOIN payments p ON p.id = a.payment_id \
             JOIN invoices i ON i.id = a.invoice_id WHERE a.removed_at IS NULL AND a.currency <> p.currency",
        )
        .fetch_all(self.pool())
        .await?;
        let mut out: HashMap<i64, Vec<(String, i64)>> = HashMap::new();
        for r in &rows {
            out.entry(r.int("payment_id")?)
                .or_default()
                .push((r.text_or_default("uuid")?, r.int("amount_micros")?));
        }
        Ok(out)
    }
}

/// The payment-currency micros of allocations in the invoices' currency, at the REP lines' `EquivalenciaDR`. An
/// allocation whose line gives no usable equivalence is left out (it stays visible as unallocated).
fn in_payment_currency(remittance: &str, allocs: &[(String, i64)]) -> anyhow::Result<i64> {
    let lines: Vec<RemittanceLine> = serde_json::from_str(remittance).unwrap_or_default();
    let mut total = 0i64;
    for (uuid, micros) in allocs {
        let equivalence = lines.iter().find_map(|l| match &l.invoice {
            InvoiceRef::Uuid(u) if u.as_str().eq_ignore_ascii_case(uuid) => l.equivalence,
            _ => None,
        });
        let Some(eq) = equivalence.filter(|e| *e > Decimal::ZERO) else {
            continue;
        };
        let converted = (from_micros(*micros) / eq)
            .round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven);
        total = total.saturating_add(to_micros(converted)?);
    }
    Ok(total)
}
