//! Conekta webhooks. Authentication as Conekta documents it: the `digest` header carries the SHA-256 of the raw
//! body signed with the account's webhook private key; we verify it as RSASSA-PKCS1-v1_5 / SHA-256 with the
//! configured public key (`public_key`, PEM, SPKI or PKCS#1). The header's encoding is not documented: standard
//! base64 is expected, URL-safe base64 and hex are tolerated. Conekta signs no timestamp, so replays are stopped by
//! the daemon's dedupe on the event id.
//!
//! Mapping: `order.paid` (each charge with status `paid`) and `charge.paid` become `Provider` payments whose id is
//! the **charge id** (so both events of one payment agree); amount from centavos; date from `paid_at`; SPEI charges
//! carry the payer's CLABE, bank holder, RFC, clave de rastreo and our receiving CLABE. Refund events
//! (`order.refunded`, `order.partially_refunded`, `charge.refunded`) give one negative movement per refund id.
//! `webhook_ping` and everything else is acknowledged with no delivery.

use crate::common::{answer, payment, store};
use crate::json::{self, at, int, metadata_refs, minor_units, text};
use crate::sig::header;
use async_trait::async_trait;
use base64::Engine;
use chrono_tz::Tz;
use cuadra_sdk::{
    CompanyContext, ConnectorError, Currency, PaymentKind, PaymentRecord, Record, VerifiedRequest,
    WebhookError, WebhookHandler, WebhookOutcome, WebhookRequest,
};
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use serde_json::Value;
use sha2::{Digest, Sha256};

const ACK: &str = r#"{"received":true}"#;

/// Verifies and maps Conekta webhook events.
#[derive(Debug)]
pub struct ConektaHandler {
    key: RsaPublicKey,
    tz: Tz,
}

impl ConektaHandler {
    /// Builds the handler from the webhook key's public key in PEM form.
    pub fn new(public_key_pem: &str, tz: Tz) -> Result<Self, ConnectorError> {
        let pem = public_key_pem.trim();
        let key = RsaPublicKey::from_public_key_pem(pem)
            .or_else(|_| RsaPublicKey::from_pkcs1_pem(pem))
            .map_err(|_| {
                ConnectorError::Config(
                    "key public_key: expected the Conekta webhook key's RSA public key in PEM form \
                     (-----BEGIN PUBLIC KEY----- or -----BEGIN RSA PUBLIC KEY-----)"
                        .into(),
                )
            })?;
        Ok(ConektaHandler { key, tz })
    }
}

/// Checks a Conekta `digest` header value against `body`.
pub fn verify_digest(
    key: &RsaPublicKey,
    digest_header: &str,
    body: &[u8],
) -> Result<(), WebhookError> {
    let h = digest_header.trim();
    let h = h
        .strip_prefix("SHA-256=")
        .or_else(|| h.strip_prefix("sha-256="))
        .unwrap_or(h);
    let candidates = [
        base64::engine::general_purpose::STANDARD.decode(h).ok(),
        base64::engine::general_purpose::URL_SAFE.decode(h).ok(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(h)
            .ok(),
        hex::decode(h).ok(),
    ];
    let hashed = Sha256::digest(body);
    for sig in candidates.into_iter().flatten() {
        if key
            .verify(Pkcs1v15Sign::new::<Sha256>(), &hashed, &sig)
            .is_ok()
        {
            return Ok(());
        }
    }
    Err(WebhookError::Unauthorized(
        "Conekta digest header does not verify with the configured public key".into(),
    ))
}

#[async_trait]
impl WebhookHandler for ConektaHandler {
    fn verify(&self, req: &WebhookRequest<'_>) -> Result<VerifiedRequest, WebhookError> {
        let value = header(req, "digest")
            .ok_or_else(|| WebhookError::Unauthorized("missing digest header".into()))?;
        verify_digest(&self.key, value, req.body)?;
        Ok(VerifiedRequest::after_verification(req))
    }

    async fn handle(
        &self,
        _ctx: &CompanyContext,
        req: &VerifiedRequest,
    ) -> Result<WebhookOutcome, WebhookError> {
        let event = json::parse_object(req.body(), "Conekta event")?;
        let event_id = text(&event, &["id"]).ok_or_else(|| {
            WebhookError::Malformed("field id: expected the Conekta event id".into())
        })?;
        let records = map_event(&event, self.tz)?;
        if records.is_empty() {
            return Ok(answer(200, ACK));
        }
        Ok(store(
            req,
            "conekta",
            event_id,
            records.into_iter().map(Record::Payment).collect(),
            ACK,
        ))
    }
}

/// Maps one verified Conekta event to payment records (empty when it moves no money).
pub fn map_event(event: &Value, tz: Tz) -> Result<Vec<PaymentRecord>, WebhookError> {
    let kind = text(event, &["type"]).unwrap_or_default();
    let Some(obj) = at(event, &["data", "object"]) else {
        return Ok(Vec::new());
    };
    let event_created = int(event, &["created_at"]);
    let mut out = Vec::new();
    match kind.as_str() {
        "order.paid" => {
            for charge in charges(obj) {
                if text(charge, &["status"]).as_deref() == Some("paid") {
                    out.push(map_charge(charge, Some(obj), event_created, tz)?);
                }
            }
        }
        "charge.paid" if text(obj, &["status"]).as_deref() == Some("paid") => {
            out.push(map_charge(obj, None, event_created, tz)?);
        }
        "order.refunded" | "order.partially_refunded" => {
            for charge in charges(obj) {
                out.extend(map_refunds(charge, Some(obj), event_created, tz)?);
            }
        }
        "charge.refunded" | "charge.partially_refunded" => {
            out.extend(map_refunds(obj, None, event_created, tz)?)
        }
        _ => {}
    }
    out.retain(|p| !p.amount.is_zero());
    Ok(out)
}

fn charges(order: &Value) -> impl Iterator<Item = &Value> {
    at(order, &["charges", "data"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn charge_currency(charge: &Value, order: Option<&Value>) -> Result<Currency, WebhookError> {
    json::currency(charge, &["currency"]).or_else(|e| match order {
        Some(o) => json::currency(o, &["currency"]),
        None => Err(e),
    })
}

fn date(secs: Option<i64>, tz: Tz) -> Result<chrono::NaiveDate, WebhookError> {
    secs.and_then(|s| json::date_from_unix(s, tz))
        .ok_or_else(|| {
            WebhookError::Malformed("field paid_at/created_at: expected a Unix timestamp".into())
        })
}

fn map_charge(
    charge: &Value,
    order: Option<&Value>,
    event_created: Option<i64>,
    tz: Tz,
) -> Result<PaymentRecord, WebhookError> {
    let id = text(charge, &["id"])
        .ok_or_else(|| WebhookError::Malformed("charge: expected its id".into()))?;
    let currency = charge_currency(charge, order)?;
    let amount = minor_units(charge, &["amount"], currency)?;
    let booked_on = date(int(charge, &["paid_at"]).or(event_created), tz)?;
    let mut p = payment(PaymentKind::Provider, id.clone(), booked_on, amount);
    p.document_id = Some(id);
    p.status = text(charge, &["status"]);
    p.operation_number = text(charge, &["payment_method", "auth_code"]);
    let meta = order
        .and_then(|o| o.get("metadata"))
        .or_else(|| charge.get("metadata"));
    let (remittance, hint) = metadata_refs(meta);
    p.remittance = remittance;
    p.customer_hint = hint;
    let pm = charge.get("payment_method").unwrap_or(&Value::Null);
    let spei = text(pm, &["type"]).as_deref() == Some("spei")
        || text(pm, &["object"]).as_deref() == Some("bank_transfer_payment");
    if spei {
        p.payer_account = text(pm, &["issuing_account_number"]);
        p.payer_name = text(pm, &["issuing_account_holder_name"]);
        p.payer_rfc = text(pm, &["issuing_account_tax_id"]);
        p.clave_rastreo = text(pm, &["tracking_code"]);
        p.own_account = text(pm, &["receiving_account_number"]).or_else(|| text(pm, &["clabe"]));
        p.concepto = text(pm, &["description"]);
        let reference = text(pm, &["reference_number"]);
        p.referencia_numerica = reference
            .clone()
            .filter(|r| r.len() <= 7 && r.bytes().all(|b| b.is_ascii_digit()));
        p.bank_reference = reference;
    } else {
        p.payer_name =
            text(pm, &["name"]).or_else(|| order.and_then(|o| text(o, &["customer_info", "name"])));
    }
    Ok(p)
}

fn map_refunds(
    charge: &Value,
    order: Option<&Value>,
    event_created: Option<i64>,
    tz: Tz,
) -> Result<Vec<PaymentRecord>, WebhookError> {
    let mut out = Vec::new();
    let Some(Value::Array(refunds)) = at(charge, &["refunds", "data"]) else {
        return Ok(out);
    };
    let currency = charge_currency(charge, order)?;
    for r in refunds {
        let id = text(r, &["id"])
            .ok_or_else(|| WebhookError::Malformed("refund: expected its id".into()))?;
        let amount = minor_units(r, &["amount"], currency)?;
        // Conekta lists refund amounts as negative numbers; some payloads give them positive.
        let amount = if amount.amount().is_sign_negative() {
            amount
        } else {
            amount.negate()
        };
        let booked_on = date(int(r, &["created_at"]).or(event_created), tz)?;
        let mut p = payment(PaymentKind::Provider, id, booked_on, amount);
        p.document_id = text(charge, &["id"]);
        p.status = Some("refunded".into());
        let (remittance, hint) = metadata_refs(order.and_then(|o| o.get("metadata")));
        p.remittance = remittance;
        p.customer_hint = hint;
        out.push(p);
    }
    Ok(out)
}
