//! Openpay webhooks. Openpay signs nothing: the request must carry the HTTP Basic credentials configured on the
//! webhook (`webhook_user` / `webhook_secret`), and the money is then confirmed by fetching the charge from
//! Openpay's API, `GET {api_base}/v1/{merchant_id}/charges/{id}` with the private key as Basic user.
//!
//! - `verification` (sent when the webhook is created): stored as a delivery of kind `openpay-verification` with no
//!   records, so the code can be read from the raw inbox and entered in the dashboard; answered 200.
//! - `charge.succeeded`, `spei.received`, `order.payment.received`: the fetched charge must be an incoming charge
//!   with status `completed` to become a `Provider` payment (id = the charge id, amount exact from the decimal
//!   pesos); `in_progress`/`charge_pending` answers 503 so Openpay retries; other statuses are acknowledged.
//! - `charge.refunded`: the fetched charge's `refund` becomes a negative movement with the refund's id.
//! - Everything else is acknowledged with no delivery. Delivery id: `<type>:<transaction.id>`.

use crate::common::{answer, payment, store};
use crate::http::{path_segment, ApiAuth, ApiClient};
use crate::json::{self, metadata_refs, reference_refs, text};
use crate::sig::basic_auth_matches;
use async_trait::async_trait;
use chrono_tz::Tz;
use cuadra_sdk::{
    CompanyContext, Currency, Money, PaymentKind, PaymentRecord, Record, VerifiedRequest,
    WebhookError, WebhookHandler, WebhookOutcome, WebhookRequest,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

/// Production API base; the sandbox is `https://sandbox-api.openpay.mx`.
pub const DEFAULT_API_BASE: &str = "https://api.openpay.mx";
const ACK: &str = r#"{"received":true}"#;

/// Verifies and confirms Openpay webhook notifications.
pub struct OpenpayHandler {
    pub(crate) user: String,
    pub(crate) password: SecretString,
    pub(crate) api_base: String,
    pub(crate) merchant_id: String,
    pub(crate) private_key: SecretString,
    pub(crate) client: ApiClient,
    pub(crate) tz: Tz,
}

impl std::fmt::Debug for OpenpayHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "OpenpayHandler({}, merchant {})",
            self.api_base, self.merchant_id
        )
    }
}

#[async_trait]
impl WebhookHandler for OpenpayHandler {
    fn verify(&self, req: &WebhookRequest<'_>) -> Result<VerifiedRequest, WebhookError> {
        if !basic_auth_matches(req, &self.user, self.password.expose_secret()) {
            return Err(WebhookError::Unauthorized(
                "Openpay webhook: missing or wrong HTTP Basic credentials".into(),
            ));
        }
        Ok(VerifiedRequest::after_verification(req))
    }

    async fn handle(
        &self,
        _ctx: &CompanyContext,
        req: &VerifiedRequest,
    ) -> Result<WebhookOutcome, WebhookError> {
        let event = json::parse_object(req.body(), "Openpay notification")?;
        let kind = text(&event, &["type"]).ok_or_else(|| {
            WebhookError::Malformed("field type: expected the Openpay event type".into())
        })?;
        if kind == "verification" {
            let code = text(&event, &["verification_code"]).ok_or_else(|| {
                WebhookError::Malformed(
                    "field verification_code: expected the webhook verification code".into(),
                )
            })?;
            tracing::info!(
                "Openpay webhook verification received; the code is in the stored delivery"
            );
            return Ok(store(
                req,
                "openpay-verification",
                format!("verification:{code}"),
                Vec::new(),
                ACK,
            ));
        }
        let refund = kind == "charge.refunded";
        let money_in = matches!(
            kind.as_str(),
            "charge.succeeded" | "spei.received" | "order.payment.received"
        );
        if !refund && !money_in {
            return Ok(answer(200, ACK));
        }
        let id = text(&event, &["transaction", "id"]).ok_or_else(|| {
            WebhookError::Malformed("field transaction.id: expected the charge id".into())
        })?;
        let charge_raw = self.fetch_charge(&id).await?;
        let text_body = String::from_utf8_lossy(&charge_raw);
        let charge = json::parse_object(&charge_raw, "Openpay charge")?;
        let records = if refund {
            map_refund(&charge, &text_body, self.tz)?
                .into_iter()
                .collect::<Vec<_>>()
        } else {
            match text(&charge, &["status"]).as_deref() {
                Some("completed") => map_charge(&charge, &text_body, self.tz)?
                    .into_iter()
                    .collect(),
                Some("in_progress") | Some("charge_pending") => {
                    return Err(WebhookError::Retryable(format!(
                        "Openpay charge {id} is not completed yet; retry later"
                    )))
                }
                _ => Vec::new(),
            }
        };
        if records.is_empty() {
            return Ok(answer(200, ACK));
        }
        let records = records.into_iter().map(Record::Payment).collect();
        Ok(store(req, "openpay", format!("{kind}:{id}"), records, ACK))
    }
}

impl OpenpayHandler {
    async fn fetch_charge(&self, id: &str) -> Result<Vec<u8>, WebhookError> {
        let url = format!(
            "{}/v1/{}/charges/{}",
            self.api_base,
            path_segment(&self.merchant_id),
            path_segment(id)
        );
        self.client
            .get(
                &url,
                ApiAuth::BasicUser(&self.private_key),
                &format!("Openpay charge {id}"),
            )
            .await
    }
}

fn exact_amount(obj: &Value, raw: &str, path: &[&str]) -> Result<Money, WebhookError> {
    let mut currency_path: Vec<&str> = path.to_vec();
    if let Some(last) = currency_path.last_mut() {
        *last = "currency";
    }
    // Openpay charges are MXN unless they say otherwise (USD is the only other currency it offers).
    let currency = json::currency(obj, &currency_path)
        .or_else(|_| json::currency(obj, &["currency"]))
        .unwrap_or(Currency::MXN);
    Ok(Money::new(json::decimal_at(raw, path, false)?, currency))
}

fn booked_on(obj: &Value, tz: Tz) -> Result<chrono::NaiveDate, WebhookError> {
    ["operation_date", "creation_date"]
        .iter()
        .find_map(|k| text(obj, &[k]).and_then(|s| json::date_from_rfc3339(&s, tz)))
        .ok_or_else(|| {
            WebhookError::Malformed("field operation_date: expected an ISO 8601 instant".into())
        })
}

/// Maps a confirmed, completed Openpay charge (the API object) to a payment; `None` for outgoing operations.
pub fn map_charge(
    charge: &Value,
    raw: &str,
    tz: Tz,
) -> Result<Option<PaymentRecord>, WebhookError> {
    if text(charge, &["operation_type"]).is_some_and(|t| t != "in") {
        return Ok(None);
    }
    let id = text(charge, &["id"])
        .ok_or_else(|| WebhookError::Malformed("charge: expected its id".into()))?;
    let amount = exact_amount(charge, raw, &["amount"])?;
    let mut p = payment(
        PaymentKind::Provider,
        id.clone(),
        booked_on(charge, tz)?,
        amount,
    );
    p.document_id = Some(id);
    p.status = text(charge, &["status"]);
    p.operation_number = text(charge, &["authorization"]);
    p.concepto = text(charge, &["description"]);
    let order_id = text(charge, &["order_id"]);
    let (mut remittance, hint) = metadata_refs(charge.get("metadata"));
    for line in reference_refs(order_id.as_deref()) {
        if !remittance.contains(&line) {
            remittance.push(line);
        }
    }
    p.remittance = remittance;
    p.customer_hint = hint;
    let pm = charge.get("payment_method").unwrap_or(&Value::Null);
    if text(pm, &["type"]).as_deref() == Some("bank_transfer") {
        p.own_account = text(pm, &["clabe"]);
        p.bank_reference = text(pm, &["name"]).or(order_id);
    } else {
        p.bank_reference = order_id;
        p.payer_name = text(charge, &["card", "holder_name"]);
    }
    Ok((!p.amount.is_zero()).then_some(p))
}

/// Maps the `refund` of a confirmed Openpay charge to a negative movement with the refund's id.
pub fn map_refund(
    charge: &Value,
    raw: &str,
    tz: Tz,
) -> Result<Option<PaymentRecord>, WebhookError> {
    let Some(refund) = charge.get("refund").filter(|r| r.is_object()) else {
        return Ok(None);
    };
    if text(refund, &["status"]).is_some_and(|s| s != "completed") {
        return Ok(None);
    }
    let id = text(refund, &["id"])
        .ok_or_else(|| WebhookError::Malformed("refund: expected its id".into()))?;
    let amount = exact_amount(charge, raw, &["refund", "amount"])?;
    let amount = if amount.amount().is_sign_negative() {
        amount
    } else {
        amount.negate()
    };
    let date = booked_on(refund, tz).or_else(|_| booked_on(charge, tz))?;
    let mut p = payment(PaymentKind::Provider, id, date, amount);
    p.document_id = text(charge, &["id"]);
    p.status = Some("refunded".into());
    p.operation_number = text(refund, &["authorization"]);
    let (remittance, hint) = metadata_refs(charge.get("metadata"));
    p.remittance = remittance;
    p.customer_hint = hint;
    Ok((!p.amount.is_zero()).then_some(p))
}
