//! Read models behind `cuadra report ...` and the API. Column names are the contract's (product.md).

use super::row::RowExt;
use super::Store;
use anyhow::Context;
use chrono::{Days, NaiveDate};
use cuadra_sdk::{format_amount, from_micros};
use std::collections::HashMap;

/// A report: stable column names and rows of display strings (money already formatted).
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

pub const CUSTOMER_COLUMNS: &[&str] = &[
    "rfc",
    "name",
    "email",
    "phone",
    "credit_days",
    "credit_limit",
    "payment_reference",
    "accounts",
    "open_balance",
];
pub const INVOICE_COLUMNS: &[&str] = &[
    "uuid",
    "serie",
    "folio",
    "customer_rfc",
    "customer_name",
    "issued_at",
    "due_at",
    "currency",
    "total",
    "credited",
    "paid",
    "balance",
    "status",
];
pub const PAYMENT_COLUMNS: &[&str] = &[
    "id",
    "source",
    "external_id",
    "date",
    "currency",
    "amount",
    "allocated",
    "unallocated",
    "payer_name",
    "payer_rfc",
    "payer_account",
    "reference",
    "same_as_payment_id",
    "returned",
    "returned_by",
];
pub const ALLOCATION_COLUMNS: &[&str] = &[
    "id",
    "payment_id",
    "invoice_uuid",
    "amount",
    "currency",
    "method",
    "confidence",
    "explanation",
    "created_at",
];

/// One invoice with its balances, as the reconciler and the reports see it.
#[derive(Debug, Clone)]
pub struct InvoiceView {
    pub id: i64,
    pub uuid: Option<String>,
    pub serie: Option<String>,
    pub folio: Option<String>,
    pub customer_rfc: Option<String>,
    pub customer_name: Option<String>,
    pub issued_at: String,
    pub issued_on: NaiveDate,
    pub due_on: Option<NaiveDate>,
    pub currency: String,
    pub total: i64,
    pub credited: i64,
    pub paid: i64,
    /// What is still owed: `total - credited - paid`, as the view `invoice_balance` states it.
    pub balance: i64,
    pub status: &'static str,
    pub exchange_rate: Option<String>,
}

/// One invoice as [`Store::invoice_views`] reads it (the columns in this order).
#[derive(serde::Deserialize)]
struct ViewRow {
    id: i64,
    uuid: Option<String>,
    serie: Option<String>,
    folio: Option<String>,
    customer_rfc: Option<String>,
    customer_name: Option<String>,
    issued_at: Option<String>,
    issued_on: Option<String>,
    due_on: Option<String>,
    currency: Option<String>,
    total: Option<i64>,
    /// 1 when cancelled or superseded, else 0.
    cancelled: Option<i64>,
    disputed: Option<i64>,
    exchange_rate: Option<String>,
}

/// What an invoice's credit notes and payments leave open, as the view `invoice_balance` states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Balance {
    pub credited: i64,
    pub paid: i64,
    pub balance: i64,
}

impl Balance {
    /// An invoice with no credit note applied and nothing paid (not among the view rows [`Store::invoice_balances`]
    /// reads): its total is open.
    const fn unpaid(total: i64) -> Balance {
        Balance {
            credited: 0,
            paid: 0,
            balance: total,
        }
    }
}

impl InvoiceView {
    /// What is still owed (see [`InvoiceView::balance`] the field).
    pub fn balance(&self) -> i64 {
        self.balance
    }
}

pub use cuadra_sdk::format_micros as money;

fn status_of(
    cancelled: bool,
    disputed: bool,
    balance: i64,
    credited: i64,
    paid: i64,
) -> &'static str {
    if cancelled {
        "cancelled"
    } else if disputed {
        "disputed"
    } else if balance <= 0 {
        "paid"
    } else if paid > 0 || credited > 0 {
        "partial"
    } else {
        "open"
    }
}

pub const CONFLICT_COLUMNS: &[&str] = &["id", "kind", "external_id", "detail", "created_at"];

impl Store {
    /// What a person must look at: the same identity with other content, ERP and CFDI disagreeing.
    pub async fn report_conflicts(&self) -> anyhow::Result<Table> {
        let rows = sqlx::query(
            "SELECT id, kind, external_id, detail, created_at FROM conflicts ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(Table {
            columns: CONFLICT_COLUMNS.to_vec(),
            rows: rows
                .iter()
                .map(|r| {
                    Ok(vec![
                        r.int("id")?.to_string(),
                        r.text("kind")?,
                        r.text("external_id")?,
                        r.text("detail")?,
                        r.text("created_at")?,
                    ])
                })
                .collect::<anyhow::Result<_>>()?,
        })
    }

    /// Every invoice with credited and paid amounts; `due_on` falls back to issue date + the customer's credit days.
    pub async fn invoice_views(&self) -> anyhow::Result<Vec<InvoiceView>> {
        let credit_days: HashMap<String, i64> =
            sqlx::query("SELECT rfc, credit_days FROM customers WHERE rfc IS NOT NULL AND credit_days IS NOT NULL")
                .fetch_all(self.pool())
                .await?
                .iter()
                .map(|r| Ok((r.text("rfc")?, r.int("credit_days")?)))
                .collect::<anyhow::Result<_>>()?;
        let names: HashMap<String, String> =
            sqlx::query("SELECT rfc, name FROM customers WHERE rfc IS NOT NULL")
                .fetch_all(self.pool())
                .await?
                .iter()
                .map(|r| Ok((r.text("rfc")?, r.text("name")?)))
                .collect::<anyhow::Result<_>>()?;
        // Read in key ranges as JSON (a million invoices never sit in memory as driver rows), with the balances of
        // the invoices that have a credit or a payment read apart, then put in report order.
        let balances = self.invoice_balances().await?;
        let mut out = Vec::new();
        self.read_ranges(
            "i.id",
            &[
                "i.uuid",
                "i.serie",
                "i.folio",
                "i.customer_rfc",
                "i.customer_name",
                "i.issued_at",
                "i.issued_on",
                "i.due_on",
                "i.currency",
                "i.total_micros",
                "CASE WHEN i.sat_state = 'cancelado' OR i.superseded_by IS NOT NULL THEN 1 ELSE 0 END",
                "i.disputed",
                "i.exchange_rate",
            ],
            "invoices i WHERE 1 = 1",
            |r: ViewRow| {
                let issued_on =
                    NaiveDate::parse_from_str(r.issued_on.as_deref().unwrap_or_default(), "%Y-%m-%d")
                        .unwrap_or_default();
                let rfc = r.customer_rfc;
                let due_on = r
                    .due_on
                    .and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok())
                    .or_else(|| {
                        let days = rfc.as_ref().and_then(|x| credit_days.get(x)).copied()?;
                        issued_on.checked_add_days(Days::new(days.max(0) as u64))
                    });
                let total = r.total.unwrap_or(0);
                let b = balances.get(&r.id).copied().unwrap_or(Balance::unpaid(total));
                let (credited, paid, balance) = (b.credited, b.paid, b.balance);
                out.push(InvoiceView {
                    id: r.id,
                    uuid: r.uuid,
                    serie: r.serie,
                    folio: r.folio,
                    customer_name: rfc
                        .as_ref()
                        .and_then(|x| names.get(x).cloned())
                        .or(r.customer_name),
                    customer_rfc: rfc,
                    issued_at: r.issued_at.unwrap_or_default(),
                    issued_on,
                    due_on,
                    currency: r.currency.unwrap_or_default(),
                    total,
                    credited,
                    paid,
                    balance,
                    status: status_of(
                        r.cancelled == Some(1),
                        r.disputed.unwrap_or(0) != 0,
                        balance,
                        credited,
                        paid,
                    ),
                    exchange_rate: r.exchange_rate,
                });
            },
        )
        .await
        .context("reading invoices")?;
        out.sort_by(|a, b| a.issued_at.cmp(&b.issued_at).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// The balance of every invoice with a credit note applied or a payment allocated, by invoice id, from the view
    /// `invoice_balance` in one statement read as one JSON text (the others owe their total).
    pub(crate) async fn invoice_balances(
        &self,
    ) -> anyhow::Result<rustc_hash::FxHashMap<i64, Balance>> {
        let sql = self.dialect().json_wrap(
            "SELECT invoice_id, credited_micros, paid_micros, balance_micros FROM invoice_balance \
             WHERE credited_micros <> 0 OR paid_micros <> 0",
            4,
        );
        let text: String = sqlx::query_scalar(&sql)
            .fetch_one(self.pool())
            .await
            .context("reading invoice balances")?;
        let rows: Vec<(i64, i64, i64, i64)> =
            serde_json::from_str(&text).context("reading invoice balances")?;
        Ok(rows
            .into_iter()
            .map(|(id, credited, paid, balance)| {
                (
                    id,
                    Balance {
                        credited,
                        paid,
                        balance,
                    },
                )
            })
            .collect())
    }

    pub async fn report_invoices(&self) -> anyhow::Result<Table> {
        let rows = self
            .invoice_views()
            .await?
            .into_iter()
            .map(|v| {
                let balance = if v.status == "cancelled" {
                    0
                } else {
                    v.balance()
                };
                // The view's strings move into the row (a million invoices: no second copy of each).
                let (total, credited, paid) = (
                    money(v.total, &v.currency),
                    money(v.credited, &v.currency),
                    money(v.paid, &v.currency),
                );
                let balance = money(balance, &v.currency);
                vec![
                    v.uuid.unwrap_or_default(),
                    v.serie.unwrap_or_default(),
                    v.folio.unwrap_or_default(),
                    v.customer_rfc.unwrap_or_default(),
                    v.customer_name.unwrap_or_default(),
                    v.issued_at,
                    v.due_on.map(|d| d.to_string()).unwrap_or_default(),
                    v.currency,
                    total,
                    credited,
                    paid,
                    balance,
                    v.status.to_string(),
                ]
            })
            .collect();
        Ok(Table {
            columns: INVOICE_COLUMNS.to_vec(),
            rows,
        })
    }

    /// Customers with their accounts and open balance. The open balance is in MXN: invoices in other currencies
    /// count at their CFDI `TipoCambio`, rounded to cents (half away from zero); without one they are left out.
    pub async fn report_customers(&self) -> anyhow::Result<Table> {
        let mut open: HashMap<String, rust_decimal::Decimal> = HashMap::new();
        for v in self.invoice_views().await? {
            if matches!(v.status, "cancelled" | "paid") {
                continue;
            }
            let Some(rfc) = v.customer_rfc.clone() else {
                continue;
            };
            let bal = from_micros(v.balance());
            let mxn = if v.currency == "MXN" {
                Some(bal)
            } else {
                v.exchange_rate
                    .as_deref()
                    .and_then(|x| cuadra_sdk::parse_decimal(x).ok())
                    .map(|rate| {
                        (bal * rate).round_dp_with_strategy(
                            2,
                            rust_decimal::RoundingStrategy::MidpointAwayFromZero,
                        )
                    })
            };
            if let Some(m) = mxn {
                *open.entry(rfc).or_default() += m;
            }
        }
        let aliases = sqlx::query(
            "SELECT customer_id, value FROM customer_aliases WHERE kind = 'account' ORDER BY customer_id, value",
        )
        .fetch_all(self.pool())
        .await?;
        let mut accounts: HashMap<i64, Vec<String>> = HashMap::new();
        for a in aliases {
            accounts
                .entry(a.int("customer_id")?)
                .or_default()
                .push(a.text("value")?);
        }
        let rows = sqlx::query(
            "SELECT id, rfc, name, emails, phone, credit_days, credit_limit_micros, currency, payment_reference \
             FROM customers ORDER BY customer_key",
        )
        .fetch_all(self.pool())
        .await?;
        let rows = rows
            .iter()
            .map(|r| {
                let rfc = r.text_or_default("rfc")?;
                let cur = r.opt_text("currency")?.unwrap_or_else(|| "MXN".into());
                Ok(vec![
                    rfc.clone(),
                    r.text("name")?,
                    r.text("emails")?,
                    r.text_or_default("phone")?,
                    r.opt_int("credit_days")?
                        .map(|d| d.to_string())
                        .unwrap_or_default(),
                    r.opt_int("credit_limit_micros")?
                        .map(|m| money(m, &cur))
                        .unwrap_or_default(),
                    r.text_or_default("payment_reference")?,
                    accounts
                        .get(&r.int("id")?)
                        .map(|a| a.join(";"))
                        .unwrap_or_default(),
                    format_amount(open.get(&rfc).copied().unwrap_or_default(), 2),
                ])
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Table {
            columns: CUSTOMER_COLUMNS.to_vec(),
            rows,
        })
    }

    /// Money received (credits; debits are kept but are not receivables), with what is allocated.
    pub async fn report_allocations(&self) -> anyhow::Result<Table> {
        let rows = sqlx::query(
            "SELECT a.id, a.payment_id, i.uuid, a.amount_micros, a.currency, a.method, a.confidence_pct, a.explanation, \
             a.created_at FROM allocations a JOIN invoices i ON i.id = a.invoice_id WHERE a.removed_at IS NULL ORDER BY a.id",
        )
        .fetch_all(self.pool())
        .await?;
        let rows = rows
            .iter()
            .map(|r| {
                let cur = r.text("currency")?;
                Ok(vec![
                    r.int("id")?.to_string(),
                    r.int("payment_id")?.to_string(),
                    r.text_or_default("uuid")?,
                    money(r.int("amount_micros")?, &cur),
                    cur,
                    r.text("method")?,
                    rust_decimal::Decimal::new(r.int("confidence_pct")?, 2).to_string(),
                    r.text("explanation")?,
                    r.text("created_at")?,
                ])
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Table {
            columns: ALLOCATION_COLUMNS.to_vec(),
            rows,
        })
    }
}
