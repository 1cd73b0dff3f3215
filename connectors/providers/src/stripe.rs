//! Stripe webhooks: `Stripe-Signature: t=…,v1=…` (HMAC-SHA256 of `"<t>.<body>"` keyed with the whole `whsec_…`
//! secret; any `v1` may match, other schemes are ignored; `t` within the tolerance, 300 s by default).
//!
//! Mapping (one `PaymentRecord` of kind `Provider` per movement; amounts from integer minor units):
//! - `payment_intent.succeeded`: `amount_received`; id = the PaymentIntent id.
//! - `charge.succeeded` (captured only), `charge.captured`: `amount_captured`; id = the charge's PaymentIntent when it
//!   has one, else the charge id. So the PaymentIntent and the charge events of one payment share an id.
//! - `checkout.session.completed` / `checkout.session.async_payment_succeeded` in `payment` mode with
//!   `payment_status: paid`: `amount_total`; id = its PaymentIntent (else the session id).
//! - `invoice.paid` / `invoice.payment_succeeded`: `amount_paid`, only when the invoice names its PaymentIntent or
//!   charge (that id is used); newer API versions that omit both are covered by `payment_intent.succeeded`.
//! - Refunds: `charge.refunded` (each succeeded refund in `refunds.data`), `refund.created|updated`,
//!   `charge.refund.updated` (status `succeeded`): negative, id = the refund id. Endpoints on API versions that no
//!   longer embed `refunds` in charges must subscribe to `refund.*`.
//! - Disputes: `charge.dispute.funds_withdrawn` negative, `…funds_reinstated` positive, id `<dispute>:withdrawn` /
//!   `<dispute>:reinstated`.
//! - Everything else (and thin v2 events) is acknowledged with no delivery.
//!
//! Invoice references and the customer hint come from the object's `metadata` (see `json::metadata_refs`).

use crate::common::{answer, payment, store};
use crate::json::{self, at, int, metadata_refs, minor_units, text};
use crate::sig::{any_hex_matches, check_tolerance, header, kv_pairs};
use async_trait::async_trait;
use chrono_tz::Tz;
use cuadra_sdk::{
    CompanyContext, PaymentKind, PaymentRecord, Record, VerifiedRequest, WebhookError,
    WebhookHandler, WebhookOutcome, WebhookRequest,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

const ACK: &str = r#"{"received":true}"#;

/// Verifies and maps Stripe webhook events.
pub struct StripeHandler {
    secret: SecretString,
    tolerance_secs: u64,
    tz: Tz,
}

impl std::fmt::Debug for StripeHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StripeHandler(tolerance {} s)", self.tolerance_secs)
    }
}

impl StripeHandler {
    pub fn new(secret: SecretString, tolerance_secs: u64, tz: Tz) -> Self {
        StripeHandler {
            secret,
            tolerance_secs,
            tz,
        }
    }
}

/// Checks a `Stripe-Signature` header against `body` at instant `now_secs`.
pub fn verify_signature(
    secret: &str,
    header_value: &str,
    body: &[u8],
    now: chrono::DateTime<chrono::Utc>,
    tolerance_secs: u64,
) -> Result<(), WebhookError> {
    let pairs = kv_pairs(header_value);
    let t = pairs
        .iter()
        .find(|(k, _)| k == "t")
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| WebhookError::Unauthorized("Stripe-Signature has no t= timestamp".into()))?;
    let ts: i64 = t.parse().map_err(|_| {
        WebhookError::Unauthorized("Stripe-Signature t= is not a Unix timestamp".into())
    })?;
    let v1: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "v1")
        .map(|(_, v)| v.as_str())
        .collect();
    if v1.is_empty() {
        return Err(WebhookError::Unauthorized(
            "Stripe-Signature has no v1= signature".into(),
        ));
    }
    if !any_hex_matches(secret.as_bytes(), &[t.as_bytes(), b".", body], &v1) {
        return Err(WebhookError::Unauthorized(
            "Stripe-Signature does not match the body".into(),
        ));
    }
    check_tolerance(ts, now, tolerance_secs)
}

#[async_trait]
impl WebhookHandler for StripeHandler {
    fn verify(&self, req: &WebhookRequest<'_>) -> Result<VerifiedRequest, WebhookError> {
        let value = header(req, "stripe-signature")
            .ok_or_else(|| WebhookError::Unauthorized("missing Stripe-Signature header".into()))?;
        verify_signature(
            self.secret.expose_secret(),
            value,
            req.body,
            req.received_at,
            self.tolerance_secs,
        )?;
        Ok(VerifiedRequest::after_verification(req))
    }

    async fn handle(
        &self,
        _ctx: &CompanyContext,
        req: &VerifiedRequest,
    ) -> Result<WebhookOutcome, WebhookError> {
        let event = json::parse_object(req.body(), "Stripe event")?;
        if text(&event, &["object"]).as_deref() == Some("v2.core.event") {
            tracing::warn!("Stripe thin (v2) event acknowledged without processing; use a snapshot-event endpoint");
            return Ok(answer(200, ACK));
        }
        let event_id = text(&event, &["id"]).ok_or_else(|| {
            WebhookError::Malformed("field id: expected the Stripe event id".into())
        })?;
        let records = map_event(&event, self.tz)?;
        if records.is_empty() {
            return Ok(answer(200, ACK));
        }
        let records = records.into_iter().map(Record::Payment).collect();
        Ok(store(req, "stripe", event_id, records, ACK))
    }
}

/// Maps one verified Stripe event to its payment records (empty when it carries no money movement).
pub fn map_event(event: &Value, tz: Tz) -> Result<Vec<PaymentRecord>, WebhookError> {
    let kind = text(event, &["type"]).unwrap_or_default();
    let Some(obj) = at(event, &["data", "object"]) else {
        return Ok(Vec::new());
    };
    let created = int(event, &["created"]).ok_or_else(|| {
        WebhookError::Malformed("field created: expected the event's Unix timestamp".into())
    })?;
    let booked_on = json::date_from_unix(created, tz)
        .ok_or_else(|| WebhookError::Malformed("field created: timestamp out of range".into()))?;
    let ctx = Ctx { obj, booked_on };
    let out = match kind.as_str() {
        "payment_intent.succeeded" => ctx.payment_intent()?.into_iter().collect(),
        "charge.succeeded" | "charge.captured" => ctx.charge()?.into_iter().collect(),
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            ctx.checkout_session()?.into_iter().collect()
        }
        "invoice.paid" | "invoice.payment_succeeded" => ctx.invoice()?.into_iter().collect(),
        "charge.refunded" => ctx.charge_refunds()?,
        "refund.created" | "refund.updated" | "charge.refund.updated" => {
            ctx.refund(obj, None)?.into_iter().collect()
        }
        "charge.dispute.funds_withdrawn" => ctx.dispute(true)?.into_iter().collect(),
        "charge.dispute.funds_reinstated" => ctx.dispute(false)?.into_iter().collect(),
        _ => Vec::new(),
    };
    Ok(out)
}

struct Ctx<'a> {
    obj: &'a Value,
    booked_on: chrono::NaiveDate,
}

impl Ctx<'_> {
    fn base(
        &self,
        obj: &Value,
        id: String,
        amount_field: &str,
        status: Option<String>,
    ) -> Result<PaymentRecord, WebhookError> {
        let currency = json::currency(obj, &["currency"])?;
        let amount = minor_units(obj, &[amount_field], currency)?;
        let mut p = payment(PaymentKind::Provider, id, self.booked_on, amount);
        let (remittance, hint) = metadata_refs(obj.get("metadata"));
        p.remittance = remittance;
        p.customer_hint = hint;
        p.document_id = text(obj, &["id"]);
        p.status = status;
        Ok(p)
    }

    fn payment_intent(&self) -> Result<Option<PaymentRecord>, WebhookError> {
        let o = self.obj;
        let id = text(o, &["id"]).ok_or_else(|| {
            WebhookError::Malformed("field data.object.id: expected the PaymentIntent id".into())
        })?;
        let field = if o.get("amount_received").is_some_and(Value::is_i64) {
            "amount_received"
        } else {
            "amount"
        };
        let mut p = self.base(o, id, field, text(o, &["status"]))?;
        let charge = at(o, &["charges", "data"]).and_then(|d| d.get(0));
        p.document_id = text(o, &["latest_charge"])
            .or_else(|| charge.and_then(|c| text(c, &["id"])))
            .or(p.document_id);
        p.payer_name = charge.and_then(|c| text(c, &["billing_details", "name"]));
        Ok(nonzero(p))
    }

    fn charge(&self) -> Result<Option<PaymentRecord>, WebhookError> {
        let o = self.obj;
        if o.get("captured") == Some(&Value::Bool(false))
            || text(o, &["status"]).as_deref() != Some("succeeded")
        {
            return Ok(None);
        }
        let charge_id = text(o, &["id"]).ok_or_else(|| {
            WebhookError::Malformed("field data.object.id: expected the charge id".into())
        })?;
        let id = text(o, &["payment_intent"]).unwrap_or(charge_id);
        let field = if o
            .get("amount_captured")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            > 0
        {
            "amount_captured"
        } else {
            "amount"
        };
        let mut p = self.base(o, id, field, text(o, &["status"]))?;
        p.payer_name = text(o, &["billing_details", "name"]);
        Ok(nonzero(p))
    }

    fn checkout_session(&self) -> Result<Option<PaymentRecord>, WebhookError> {
        let o = self.obj;
        if text(o, &["payment_status"]).as_deref() != Some("paid")
            || text(o, &["mode"]).as_deref() != Some("payment")
        {
            return Ok(None);
        }
        let session = text(o, &["id"]).ok_or_else(|| {
            WebhookError::Malformed("field data.object.id: expected the session id".into())
        })?;
        let id = text(o, &["payment_intent"]).unwrap_or(session);
        let mut p = self.base(o, id, "amount_total", text(o, &["payment_status"]))?;
        p.payer_name = text(o, &["customer_details", "name"]);
        if let Some(reference) = text(o, &["client_reference_id"]) {
            for line in json::reference_refs(Some(&reference)) {
                if !p.remittance.contains(&line) {
                    p.remittance.push(line);
                }
            }
        }
        Ok(nonzero(p))
    }

    fn invoice(&self) -> Result<Option<PaymentRecord>, WebhookError> {
        let o = self.obj;
        let Some(id) = text(o, &["payment_intent"]).or_else(|| text(o, &["charge"])) else {
            return Ok(None);
        };
        let mut p = self.base(o, id, "amount_paid", text(o, &["status"]))?;
        p.payer_name = text(o, &["customer_name"]);
        Ok(nonzero(p))
    }

    fn charge_refunds(&self) -> Result<Vec<PaymentRecord>, WebhookError> {
        let mut out = Vec::new();
        if let Some(Value::Array(refunds)) = at(self.obj, &["refunds", "data"]) {
            for r in refunds {
                if let Some(p) = self.refund(r, Some(self.obj))? {
                    out.push(p);
                }
            }
        }
        Ok(out)
    }

    /// A succeeded refund as a negative movement; metadata from the refund, else from its charge.
    fn refund(
        &self,
        r: &Value,
        charge: Option<&Value>,
    ) -> Result<Option<PaymentRecord>, WebhookError> {
        if text(r, &["status"]).as_deref() != Some("succeeded") {
            return Ok(None);
        }
        let id = text(r, &["id"])
            .ok_or_else(|| WebhookError::Malformed("refund: expected its id".into()))?;
        let mut p = self.base(r, id, "amount", Some("refunded".into()))?;
        p.amount = p.amount.negate();
        p.document_id = text(r, &["charge"]).or(p.document_id);
        if p.remittance.is_empty() {
            if let Some(c) = charge {
                let (remittance, hint) = metadata_refs(c.get("metadata"));
                p.remittance = remittance;
                p.customer_hint = p.customer_hint.or(hint);
            }
        }
        Ok(nonzero(p))
    }

    fn dispute(&self, withdrawn: bool) -> Result<Option<PaymentRecord>, WebhookError> {
        let o = self.obj;
        let id = text(o, &["id"]).ok_or_else(|| {
            WebhookError::Malformed("field data.object.id: expected the dispute id".into())
        })?;
        let suffix = if withdrawn { "withdrawn" } else { "reinstated" };
        let mut p = self.base(o, format!("{id}:{suffix}"), "amount", text(o, &["status"]))?;
        if withdrawn {
            p.amount = p.amount.negate();
        }
        p.document_id = text(o, &["charge"]);
        p.status = Some(format!("dispute_funds_{suffix}"));
        Ok(nonzero(p))
    }
}

fn nonzero(p: PaymentRecord) -> Option<PaymentRecord> {
    (!p.amount.is_zero()).then_some(p)
}
