//! `OdooSink`: outbox messages to Odoo.
//!
//! - `allocation.created`: first looks for an `account.payment` whose memo (`ref` in Odoo 16–17, `memo` in 18)
//!   carries the token `cuadra:<allocation id>`; one that is not cancelled means the allocation is already
//!   registered (a retry after a lost answer) and its id is returned. Otherwise it does what "Register payment"
//!   does: `account.payment.register.create({amount, payment_date, journal_id, communication})` with context
//!   `active_model=account.move, active_ids=[move]`, then `action_create_payments`, and returns the new payment id.
//! - `allocation.removed`: finds that payment and reverses it with `action_draft` then `action_cancel` (both exist
//!   on `account.payment` in 16, 17 and 18; cancelling unreconciles it, so the invoice's residual comes back). A
//!   payment already cancelled, or none at all, is success.
//! - Other event types are acknowledged without a call.
//!
//! The payload (the allocation report columns plus what Odoo needs): `id` (or `allocation_id`), `invoice_erp_id`
//! (or `erp_id`: the `account.move` id) and/or `invoice_uuid`, `amount` (string or number, in the invoice's
//! currency), `currency`, `payment_date` (or `date`, `YYYY-MM-DD`; default: the message's creation date), `method`,
//! `explanation`.

use super::rpc::OdooClient;
use crate::json::{self, Id, OrFalse};
use crate::net::Failure;
use async_trait::async_trait;
use cuadra_sdk::{CfdiUuid, Currency, OutboundMessage, Receipt, Sink, SinkError};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_json::value::RawValue;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// The memo token that marks a payment as registered by Cuadra for one allocation.
pub fn token(allocation_id: &str) -> String {
    format!("cuadra:{allocation_id}")
}

/// An allocation as the sink reads it from a payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    pub id: String,
    pub invoice_erp_id: Option<i64>,
    pub invoice_uuid: Option<CfdiUuid>,
    pub amount: Decimal,
    pub currency: Currency,
    pub payment_date: chrono::NaiveDate,
}

#[derive(Deserialize)]
struct Payload {
    #[serde(default, alias = "allocation_id")]
    id: Option<Id>,
    #[serde(default, alias = "erp_id")]
    invoice_erp_id: Option<Id>,
    #[serde(default)]
    invoice_uuid: Option<String>,
    #[serde(default)]
    amount: Option<Box<RawValue>>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default, alias = "date")]
    payment_date: Option<String>,
}

impl Allocation {
    /// Reads the payload of `msg`; errors name the field.
    pub fn from_message(msg: &OutboundMessage) -> Result<Allocation, String> {
        let p: Payload =
            serde_json::from_value(msg.payload.clone()).map_err(|e| format!("payload: {e}"))?;
        let id =
            p.id.map(|i| i.0)
                .filter(|s| !s.trim().is_empty())
                .ok_or("payload: field id: missing")?;
        let f = |field: &str, e: String| format!("allocation {id}: field {field}: {e}");
        let invoice_erp_id = p
            .invoice_erp_id
            .map(|i| {
                i.0.trim().parse::<i64>().map_err(|_| {
                    f(
                        "invoice_erp_id",
                        format!("expected an Odoo id, found {}", json::preview(&i.0)),
                    )
                })
            })
            .transpose()?;
        let invoice_uuid = p
            .invoice_uuid
            .filter(|u| !u.trim().is_empty())
            .map(|u| CfdiUuid::parse(&u).map_err(|e| f("invoice_uuid", e.to_string())))
            .transpose()?;
        if invoice_erp_id.is_none() && invoice_uuid.is_none() {
            return Err(f("invoice_erp_id", "missing (and no invoice_uuid)".into()));
        }
        let amount = json::decimal(&p.amount.ok_or_else(|| f("amount", "missing".into()))?)
            .map_err(|e| f("amount", e))?;
        if amount <= Decimal::ZERO {
            return Err(f(
                "amount",
                format!("expected a positive amount, found {amount}"),
            ));
        }
        let currency = Currency::parse(p.currency.as_deref().unwrap_or_default().trim())
            .map_err(|e| f("currency", e.to_string()))?;
        let payment_date = match p.payment_date {
            Some(d) => json::date(&d).map_err(|e| f("payment_date", e))?,
            None => msg.created_at.date_naive(),
        };
        Ok(Allocation {
            id,
            invoice_erp_id,
            invoice_uuid,
            amount,
            currency,
            payment_date,
        })
    }
}

#[derive(Debug, Deserialize)]
struct PaymentRow {
    id: i64,
    #[serde(default)]
    state: OrFalse<String>,
    #[serde(default)]
    r#ref: OrFalse<String>,
    #[serde(default)]
    memo: OrFalse<String>,
}

#[derive(Debug, Deserialize)]
struct MoveRow {
    id: i64,
    #[serde(default)]
    move_type: OrFalse<String>,
    #[serde(default)]
    state: OrFalse<String>,
    #[serde(default)]
    currency_id: OrFalse<super::map::Many2one>,
}

#[derive(Serialize)]
struct WizardValues<'a> {
    amount: &'a RawValue,
    payment_date: String,
    journal_id: i64,
    communication: String,
}

pub struct OdooSink {
    client: Arc<OdooClient>,
    journal: Option<String>,
    journal_id: OnceCell<i64>,
    memo_field: OnceCell<&'static str>,
    has_uuid: OnceCell<bool>,
}

impl std::fmt::Debug for OdooSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OdooSink")
            .field("journal", &self.journal)
            .finish_non_exhaustive()
    }
}

fn cancelled(state: &Option<String>) -> bool {
    matches!(state.as_deref(), Some("cancel" | "canceled" | "cancelled"))
}

impl OdooSink {
    pub fn new(client: Arc<OdooClient>, journal: Option<String>) -> OdooSink {
        OdooSink {
            client,
            journal,
            journal_id: OnceCell::new(),
            memo_field: OnceCell::new(),
            has_uuid: OnceCell::new(),
        }
    }

    async fn memo_field(&self) -> Result<&'static str, Failure> {
        self.memo_field
            .get_or_try_init(|| async {
                let names = self.client.field_names("account.payment").await?;
                Ok(if names.iter().any(|n| n == "memo") {
                    "memo"
                } else {
                    "ref"
                })
            })
            .await
            .copied()
    }

    async fn journal_id(&self) -> Result<i64, Failure> {
        let name = self.journal.clone().ok_or_else(|| {
            Failure::Config("journal: not set (the payment journal's name or code)".into())
        })?;
        self.journal_id
            .get_or_try_init(|| async {
                let domain = json!([
                    ["type", "in", ["bank", "cash"]],
                    "|",
                    ["name", "=", name],
                    ["code", "=", name]
                ]);
                let ids: Vec<i64> = self
                    .client
                    .exec(
                        "account.journal",
                        "search",
                        &json!([domain]),
                        &json!({"limit": 2}),
                    )
                    .await?;
                match ids.as_slice() {
                    [id] => Ok(*id),
                    [] => Err(Failure::Config(format!(
                        "journal: no bank or cash journal named or coded {name:?} in Odoo"
                    ))),
                    _ => Err(Failure::Config(format!(
                        "journal: several journals match {name:?}; give its code"
                    ))),
                }
            })
            .await
            .copied()
    }

    /// Payments carrying the allocation's token (any state), by exact token match on the memo.
    async fn payments_for(
        &self,
        allocation_id: &str,
    ) -> Result<Vec<(i64, Option<String>)>, Failure> {
        let field = self.memo_field().await?;
        let tok = token(allocation_id);
        let rows: Vec<PaymentRow> = self
            .client
            .exec(
                "account.payment",
                "search_read",
                &json!([[[field, "ilike", tok]]]),
                &json!({"fields": ["state", field], "order": "id asc"}),
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter(|r| {
                let memo = r
                    .memo
                    .0
                    .as_deref()
                    .or(r.r#ref.0.as_deref())
                    .unwrap_or_default();
                memo.split(|c: char| c.is_whitespace() || c == ',' || c == ';')
                    .any(|t| t == tok)
            })
            .map(|r| (r.id, r.state.0))
            .collect())
    }

    async fn find_move(&self, a: &Allocation) -> Result<MoveRow, Failure> {
        let fields = json!({"fields": ["move_type", "state", "currency_id"]});
        let rows: Vec<MoveRow> = if let Some(id) = a.invoice_erp_id {
            self.client
                .exec(
                    "account.move",
                    "search_read",
                    &json!([[["id", "=", id]]]),
                    &fields,
                )
                .await?
        } else {
            let has_uuid = *self
                .has_uuid
                .get_or_try_init(|| async {
                    let names = self.client.field_names("account.move").await?;
                    Ok::<bool, Failure>(names.iter().any(|n| n == super::map::UUID_FIELD))
                })
                .await?;
            let uuid = a
                .invoice_uuid
                .as_ref()
                .map(|u| u.as_str().to_string())
                .unwrap_or_default();
            if !has_uuid {
                return Err(Failure::Permanent(format!(
                    "allocation {}: invoice {uuid} has no invoice_erp_id and Odoo has no l10n_mx_edi CFDI UUID field",
                    a.id
                )));
            }
            let domain = json!([
                [super::map::UUID_FIELD, "=ilike", uuid],
                ["move_type", "in", ["out_invoice", "out_refund"]]
            ]);
            self.client
                .exec("account.move", "search_read", &json!([domain]), &fields)
                .await?
        };
        let what = a
            .invoice_erp_id
            .map(|i| format!("account.move {i}"))
            .or_else(|| a.invoice_uuid.as_ref().map(|u| format!("invoice {u}")));
        let what = what.unwrap_or_default();
        let mut rows = rows.into_iter();
        let m = rows.next().ok_or_else(|| {
            Failure::Permanent(format!("allocation {}: {what} not found in Odoo", a.id))
        })?;
        if rows.next().is_some() {
            return Err(Failure::Permanent(format!(
                "allocation {}: {what} matches several Odoo moves",
                a.id
            )));
        }
        if m.move_type.0.as_deref() != Some("out_invoice") || m.state.0.as_deref() != Some("posted")
        {
            return Err(Failure::Permanent(format!(
                "allocation {}: {what} is not a posted customer invoice",
                a.id
            )));
        }
        let cur = m
            .currency_id
            .0
            .as_ref()
            .map(|c| c.1.as_str())
            .unwrap_or_default();
        if !cur.eq_ignore_ascii_case(a.currency.as_str()) {
            return Err(Failure::Permanent(format!(
                "allocation {}: amount in {} but {what} is in {cur}; cross-currency registration is not supported",
                a.id, a.currency
            )));
        }
        Ok(m)
    }

    async fn register(&self, a: &Allocation) -> Result<Receipt, Failure> {
        if let Some((id, _)) = self
            .payments_for(&a.id)
            .await?
            .into_iter()
            .find(|(_, s)| !cancelled(s))
        {
            tracing::info!(payment = id, "allocation already registered in Odoo");
            return Ok(Receipt {
                remote_id: Some(id.to_string()),
            });
        }
        let m = self.find_move(a).await?;
        let journal_id = self.journal_id().await?;
        let amount = RawValue::from_string(a.amount.to_string())
            .map_err(|e| Failure::Permanent(format!("allocation {}: amount: {e}", a.id)))?;
        let values = WizardValues {
            amount: &amount,
            payment_date: a.payment_date.format("%Y-%m-%d").to_string(),
            journal_id,
            communication: token(&a.id),
        };
        let context = json!({"context": {"active_model": "account.move", "active_ids": [m.id]}});
        let wizard: i64 = self
            .client
            .exec("account.payment.register", "create", &(&values,), &context)
            .await?;
        let _: serde::de::IgnoredAny = self
            .client
            .exec(
                "account.payment.register",
                "action_create_payments",
                &json!([[wizard]]),
                &context,
            )
            .await?;
        match self
            .payments_for(&a.id)
            .await?
            .into_iter()
            .find(|(_, s)| !cancelled(s))
        {
            Some((id, _)) => Ok(Receipt {
                remote_id: Some(id.to_string()),
            }),
            None => Err(Failure::Retryable(format!(
                "allocation {}: Odoo created the payment but it is not found by its memo yet",
                a.id
            ))),
        }
    }

    async fn reverse(&self, allocation_id: &str) -> Result<Receipt, Failure> {
        let payments = self.payments_for(allocation_id).await?;
        let mut last = None;
        for (id, state) in payments {
            last = Some(id.to_string());
            if cancelled(&state) {
                continue;
            }
            let _: serde::de::IgnoredAny = self
                .client
                .exec(
                    "account.payment",
                    "action_draft",
                    &json!([[id]]),
                    &json!({}),
                )
                .await?;
            let _: serde::de::IgnoredAny = self
                .client
                .exec(
                    "account.payment",
                    "action_cancel",
                    &json!([[id]]),
                    &json!({}),
                )
                .await?;
        }
        if last.is_none() {
            tracing::info!("allocation to reverse has no payment in Odoo; nothing to do");
        }
        Ok(Receipt { remote_id: last })
    }
}

#[async_trait]
impl Sink for OdooSink {
    #[tracing::instrument(skip_all, fields(connector = "odoo", event_type = %msg.event_type, attempt = msg.attempt))]
    async fn deliver(&self, msg: &OutboundMessage) -> Result<Receipt, SinkError> {
        match msg.event_type.as_str() {
            "allocation.created" => {
                let a = Allocation::from_message(msg).map_err(SinkError::Permanent)?;
                Ok(self.register(&a).await?)
            }
            "allocation.removed" => {
                let p: Payload = serde_json::from_value(msg.payload.clone())
                    .map_err(|e| SinkError::Permanent(format!("payload: {e}")))?;
                let id =
                    p.id.map(|i| i.0)
                        .filter(|s| !s.trim().is_empty())
                        .ok_or_else(|| SinkError::Permanent("payload: field id: missing".into()))?;
                Ok(self.reverse(&id).await?)
            }
            _ => Ok(Receipt::default()),
        }
    }
}
