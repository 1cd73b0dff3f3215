//! Loading what the engine reads: the customer master and its aliases, the invoices with their open balances, the
//! payments with what is already allocated of them, and the pairs a person removed. The big tables are read in key
//! ranges, each aggregated by the database into one JSON text ([`Store::read_ranges`]), into named rows.

use crate::model::reconcile::{AliasIn, CustomerIn, InvoiceIn, PaidIn, PaymentIn, ReversalIn};
use crate::store::row::RowExt;
use crate::store::Store;
use anyhow::Context;
use chrono::NaiveDate;
use std::collections::HashSet;

/// A customer of the master, as read (the key, then [`CUSTOMER_COLUMNS`] in order).
#[derive(serde::Deserialize)]
struct CustomerRow {
    id: i64,
    rfc: Option<String>,
    name: Option<String>,
    payment_reference: Option<String>,
    erp_id: Option<String>,
}
const CUSTOMER_COLUMNS: &[&str] = &["c.rfc", "c.name", "c.payment_reference", "c.erp_id"];

/// A learned or imported alias of a customer (the key, then [`ALIAS_COLUMNS`]).
#[derive(serde::Deserialize)]
struct AliasRow {
    _id: i64,
    customer_id: i64,
    kind: String,
    value: String,
    source: String,
}
const ALIAS_COLUMNS: &[&str] = &["a.customer_id", "a.kind", "a.value", "a.source"];

/// An invoice (the key, then [`INVOICE_COLUMNS`]): every invoice is read for its receptor's name, the open ones
/// are kept.
#[derive(serde::Deserialize)]
struct InvoiceRow {
    id: i64,
    uuid: Option<String>,
    serie: Option<String>,
    folio: Option<String>,
    erp_id: Option<String>,
    customer_rfc: Option<String>,
    customer_name: Option<String>,
    currency: Option<String>,
    issued_on: Option<String>,
    total_micros: Option<i64>,
    /// 1 when the invoice is vigente and not superseded.
    live: i64,
}
const INVOICE_COLUMNS: &[&str] = &[
    "i.uuid",
    "i.serie",
    "i.folio",
    "i.erp_id",
    "i.customer_rfc",
    "i.customer_name",
    "i.currency",
    "i.issued_on",
    // The total; credits and allocations are subtracted apart (two look-ups per invoice in the scan cost more
    // than reading both small tables once).
    "i.total_micros",
    "CASE WHEN i.sat_state = 'vigente' AND i.superseded_by IS NULL THEN 1 ELSE 0 END",
];

/// A payment received (the key, then [`PAYMENT_COLUMNS`]).
#[derive(serde::Deserialize)]
struct PaymentRow {
    id: i64,
    kind: Option<String>,
    external_id: Option<String>,
    booked_on: Option<String>,
    currency: Option<String>,
    amount_micros: Option<i64>,
    same_as_payment_id: Option<i64>,
    payer_name: Option<String>,
    payer_rfc: Option<String>,
    payer_account: Option<String>,
    referencia_numerica: Option<String>,
    clave_rastreo: Option<String>,
    bank_reference: Option<String>,
    concepto: Option<String>,
    operation_number: Option<String>,
    customer_hint: Option<String>,
    remittance: Option<String>,
    /// Active allocations on the payment.
    allocated: Option<i64>,
    /// Active allocations a person made.
    manual_allocations: Option<i64>,
    customer_id: Option<i64>,
    /// Only the statuses of movements that undo others (else null: nothing to carry for most rows).
    status: Option<String>,
    /// Only for provider payments (what their refunds name).
    document_id: Option<String>,
}
const PAYMENT_COLUMNS: &[&str] = &[
    "p.kind",
    "p.external_id",
    "p.booked_on",
    "p.currency",
    "p.amount_micros",
    "p.same_as_payment_id",
    "p.payer_name",
    "p.payer_rfc",
    "p.payer_account",
    "p.referencia_numerica",
    "p.clave_rastreo",
    "p.bank_reference",
    "p.concepto",
    "p.operation_number",
    "p.customer_hint",
    "p.remittance",
    "COALESCE((SELECT SUM(a.amount_micros) FROM allocations a WHERE a.payment_id = p.id \
     AND a.removed_at IS NULL), 0)",
    "(SELECT COUNT(*) FROM allocations a WHERE a.payment_id = p.id AND a.removed_at IS NULL \
     AND a.created_by = 'manual')",
    "p.customer_id",
    "CASE WHEN p.status IN ('reversal', 'refunded', 'dispute_funds_withdrawn', 'dispute_funds_reinstated') \
     THEN p.status END",
    "CASE WHEN p.kind = 'provider' THEN p.document_id END",
];

/// The statuses of movements that undo an earlier credit (bank returns, provider refunds and chargebacks), in
/// SQL: such debits are loaded beside the credits.
const UNDOING: &str =
    "('reversal', 'refunded', 'dispute_funds_withdrawn', 'dispute_funds_reinstated')";

/// `YYYY-MM-DD` (the stored form), read without a format string (a million of them per run).
fn date(s: &str) -> NaiveDate {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b.get(r)?.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let parsed = (b.len() == 10 && b[4] == b'-' && b[7] == b'-')
        .then(|| NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?))
        .flatten();
    parsed.unwrap_or_else(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default())
}

impl Store {
    /// The customer master and its aliases (small: read first, so that their look-ups are built while the rest
    /// is read).
    pub async fn reconcile_master(&self) -> anyhow::Result<(Vec<CustomerIn>, Vec<AliasIn>)> {
        let mut customers = Vec::new();
        self.read_ranges(
            "c.id",
            CUSTOMER_COLUMNS,
            "customers c WHERE 1 = 1",
            |r: CustomerRow| {
                customers.push(CustomerIn {
                    id: r.id,
                    rfc: r.rfc,
                    name: r.name.unwrap_or_default(),
                    payment_reference: r.payment_reference,
                    erp_id: r.erp_id,
                })
            },
        )
        .await
        .context("loading customers")?;
        let mut aliases = Vec::new();
        self.read_ranges(
            "a.id",
            ALIAS_COLUMNS,
            "customer_aliases a WHERE 1 = 1",
            |r: AliasRow| {
                aliases.push(AliasIn {
                    customer_id: r.customer_id,
                    kind: r.kind,
                    value: r.value,
                    source: r.source,
                })
            },
        )
        .await
        .context("loading customer aliases")?;
        Ok((customers, aliases))
    }

    /// The open invoices (open balance: the total less vigente credit notes applied and live allocations), the
    /// live invoices payments paid in full (for duplicate payments), and per RFC the smallest receptor name
    /// written on its invoices (compared byte-wise on both backends), sorted. One streamed pass: no more than one
    /// row at a time is held beside what is kept.
    pub async fn reconcile_invoices(
        &self,
    ) -> anyhow::Result<(Vec<InvoiceIn>, Vec<PaidIn>, Vec<(String, String)>)> {
        let mut invoices = Vec::with_capacity(self.rows_expected("invoices").await?);
        let mut names: rustc_hash::FxHashMap<String, String> = Default::default();
        self.read_ranges(
            "i.id",
            INVOICE_COLUMNS,
            "invoices i WHERE 1 = 1",
            |r: InvoiceRow| {
                if let (Some(rfc), Some(name)) = (&r.customer_rfc, r.customer_name) {
                    match names.get_mut(rfc.as_str()) {
                        Some(n) if name < *n => *n = name,
                        Some(_) => {}
                        None => {
                            names.insert(rfc.clone(), name);
                        }
                    }
                }
                if r.live == 1 {
                    invoices.push(InvoiceIn {
                        id: r.id,
                        uuid: r.uuid,
                        serie: r.serie,
                        folio: r.folio,
                        erp_id: r.erp_id,
                        customer_rfc: r.customer_rfc,
                        currency: r.currency.unwrap_or_default(),
                        issued_on: date(&r.issued_on.unwrap_or_default()),
                        open: r.total_micros.unwrap_or(0),
                        replaces: Vec::new(),
                    });
                }
            },
        )
        .await
        .context("loading open invoices")?;
        let (credited, allocated) = tokio::try_join!(
            self.sums_by_invoice(
                "SELECT ca.invoice_id, CAST(SUM(ca.amount_micros) AS BIGINT) FROM credit_applications ca \
                 JOIN credits cr ON cr.id = ca.credit_id WHERE cr.sat_state = 'vigente' GROUP BY ca.invoice_id"
            ),
            self.paid_by_invoice(),
        )?;
        let mut paid = Vec::new();
        for i in &mut invoices {
            let (sum, first) = allocated.get(&i.id).copied().unwrap_or((0, 0));
            i.open -= credited.get(&i.id).copied().unwrap_or(0) + sum;
            if i.open <= 0 && sum > 0 {
                paid.push(PaidIn {
                    id: i.id,
                    uuid: i.uuid.take(),
                    serie: i.serie.take(),
                    folio: i.folio.take(),
                    customer_rfc: i.customer_rfc.take(),
                    currency: std::mem::take(&mut i.currency),
                    paid: sum,
                    paid_by: first,
                });
            }
        }
        invoices.retain(|i| i.open > 0);
        let replaced = self.replaced_folios().await?;
        if !replaced.is_empty() {
            for i in &mut invoices {
                if let Some(r) = replaced.get(&i.id) {
                    i.replaces = r.clone();
                }
            }
        }
        let mut invoice_names: Vec<(String, String)> = names.into_iter().collect();
        invoice_names.sort_unstable();
        Ok((invoices, paid, invoice_names))
    }

    /// The payments received and vigente, with what is allocated of them, and the (payment, invoice) pairs a
    /// person removed.
    pub async fn reconcile_payments(
        &self,
    ) -> anyhow::Result<(Vec<PaymentIn>, HashSet<(i64, i64)>)> {
        let mut payments = Vec::with_capacity(self.rows_expected("payments").await?);
        self.read_ranges(
            "p.id",
            PAYMENT_COLUMNS,
            &format!(
                "payments p WHERE (p.amount_micros > 0 OR p.status IN {UNDOING}) AND p.sat_state = 'vigente'"
            ),
            |r: PaymentRow| {
                let remittance = r.remittance.unwrap_or_default();
                payments.push(PaymentIn {
                    id: r.id,
                    kind: r.kind.unwrap_or_default(),
                    external_id: r.external_id.unwrap_or_default(),
                    booked_on: date(&r.booked_on.unwrap_or_default()),
                    currency: r.currency.unwrap_or_default(),
                    amount: r.amount_micros.unwrap_or(0),
                    same_as: r.same_as_payment_id,
                    payer_name: r.payer_name,
                    payer_rfc: r.payer_rfc,
                    payer_account: r.payer_account,
                    referencia: r.referencia_numerica,
                    clave_rastreo: r.clave_rastreo,
                    bank_reference: r.bank_reference,
                    concepto: r.concepto,
                    operation_number: r.operation_number,
                    customer_hint: r.customer_hint,
                    remittance: if remittance == "[]" || remittance.is_empty() {
                        vec![]
                    } else {
                        serde_json::from_str(&remittance).unwrap_or_default()
                    },
                    allocated: r.allocated.unwrap_or(0),
                    manual: r.manual_allocations.unwrap_or(0) > 0,
                    customer_id: r.customer_id,
                    status: r.status,
                    document_id: r.document_id,
                });
            },
        )
        .await
        .context("loading payments")?;
        let rejected = sqlx::query(
            "SELECT payment_id, invoice_id FROM allocations WHERE removed_at IS NOT NULL AND removed_by LIKE 'manual%'",
        )
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| anyhow::Ok((r.int("payment_id")?, r.int("invoice_id")?)))
        .collect::<anyhow::Result<_>>()?;
        Ok((payments, rejected))
    }

    /// Per vigente substitute (sustitución 04), the (serie, folio) of the invoices it replaced: a payment citing
    /// the cancelled folio is carried to its substitute. Substitutes come through the partial index
    /// `invoices_replacing` (few), each replaced invoice by its UUID.
    async fn replaced_folios(
        &self,
    ) -> anyhow::Result<rustc_hash::FxHashMap<i64, Vec<(Option<String>, String)>>> {
        let mut out: rustc_hash::FxHashMap<i64, Vec<(Option<String>, String)>> = Default::default();
        let substitutes = sqlx::query(
            "SELECT id, uuid, replaces FROM invoices WHERE replaces <> '[]' AND COALESCE(uuid, '') <> '' \
             AND sat_state = 'vigente'",
        )
        .fetch_all(self.pool())
        .await?;
        for s in substitutes {
            let (id, uuid) = (s.int("id")?, s.text("uuid")?);
            let replaces: Vec<String> =
                serde_json::from_str(&s.text("replaces")?).unwrap_or_default();
            for old in replaces {
                let row = sqlx::query(
                    "SELECT serie, folio FROM invoices WHERE uuid = $1 AND superseded_by = $2",
                )
                .bind(old.to_lowercase())
                .bind(&uuid)
                .fetch_optional(self.pool())
                .await?;
                if let Some(r) = row {
                    if let Some(folio) = r.opt_text("folio")?.filter(|f| !f.trim().is_empty()) {
                        out.entry(id)
                            .or_default()
                            .push((r.opt_text("serie")?, folio));
                    }
                }
            }
        }
        Ok(out)
    }

    /// The reversals linked so far (a small table).
    pub async fn reconcile_reversals(&self) -> anyhow::Result<Vec<ReversalIn>> {
        let sql = self.dialect().json_wrap(
            "SELECT reversal_payment_id, payment_id, amount_micros FROM reversals",
            3,
        );
        let text: String = sqlx::query_scalar(&sql).fetch_one(self.pool()).await?;
        let rows: Vec<(i64, i64, i64)> =
            serde_json::from_str(&text).context("reading reversals")?;
        Ok(rows
            .into_iter()
            .map(|(reversal_payment_id, payment_id, amount)| ReversalIn {
                reversal_payment_id,
                payment_id,
                amount,
            })
            .collect())
    }

    /// Per invoice: what live allocations paid and the first payment (lowest id) that paid it, read as one JSON
    /// text.
    async fn paid_by_invoice(&self) -> anyhow::Result<rustc_hash::FxHashMap<i64, (i64, i64)>> {
        let sql = self.dialect().json_wrap(
            "SELECT invoice_id, CAST(SUM(amount_micros) AS BIGINT), CAST(MIN(payment_id) AS BIGINT) \
             FROM allocations WHERE removed_at IS NULL GROUP BY invoice_id",
            3,
        );
        let text: String = sqlx::query_scalar(&sql).fetch_one(self.pool()).await?;
        let rows: Vec<(i64, i64, i64)> = serde_json::from_str(&text).context("reading sums")?;
        Ok(rows.into_iter().map(|(i, s, p)| (i, (s, p))).collect())
    }

    /// Room for a table's rows, from its largest id within a bound, so that the vectors are not grown by doubling
    /// (docs/reconcile.md, Performance).
    async fn rows_expected(&self, table: &'static str) -> anyhow::Result<usize> {
        let max: Option<i64> =
            sqlx::query_scalar(&format!("SELECT CAST(MAX(id) AS BIGINT) FROM {table}"))
                .fetch_one(self.pool())
                .await?;
        Ok(max.unwrap_or(0).clamp(0, 4_000_000) as usize)
    }

    /// `SELECT invoice_id, SUM(..) .. GROUP BY invoice_id` as a map, read as one JSON text.
    async fn sums_by_invoice(
        &self,
        select: &str,
    ) -> anyhow::Result<rustc_hash::FxHashMap<i64, i64>> {
        let sql = self.dialect().json_wrap(select, 2);
        let text: String = sqlx::query_scalar(&sql).fetch_one(self.pool()).await?;
        let pairs: Vec<(i64, i64)> = serde_json::from_str(&text).context("reading sums")?;
        Ok(pairs.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::date;
    use chrono::NaiveDate;

    #[test]
    fn stored_dates_read_as_before() {
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        assert_eq!(date("2026-11-23"), d(2026, 11, 23));
        assert_eq!(date("2024-02-29"), d(2024, 2, 29));
        // Not a date, or not this form: what the format-string parse gave (the default date).
        for bad in [
            "2023-02-29",
            "2026-13-01",
            "2026/11/23",
            "",
            "２０２６-11-23",
            "2026-11-23T00",
        ] {
            assert_eq!(date(bad), NaiveDate::default(), "{bad}");
        }
    }
}
