//! Mercado Pago webhooks. `x-signature: ts=…,v1=…` is the hex HMAC-SHA256, keyed with the integration's secret,
//! of the manifest `id:<data.id>;request-id:<x-request-id>;ts:<ts>;` (a pair is left out when its value is
//! empty). `data.id` is the notification URL's query parameter: the daemon passes the query string as
//! [`cuadra_sdk::WebhookRequest::query`]; without it the body's `data.id` is used (Mercado Pago sends the same
//! value in both). `ts` may be seconds or milliseconds (13 digits); it must be within the tolerance.
//!
//! Notifications are thin, so a `payment` notification is confirmed with `GET {api_base}/v1/payments/{id}` and the
//! access token. A payment with status `approved` (or later `refunded`) becomes a `Provider` payment (id = the
//! payment id, amount exact from `transaction_amount`, `external_reference` and `metadata` as invoice references);
//! each approved entry of `refunds` becomes a negative movement with the refund's id. Other statuses and other
//! topics are acknowledged with no delivery. Delivery id: the notification's `id`.

use crate::common::{answer, payment, store};
use crate::http::{path_segment, ApiAuth, ApiClient};
use crate::json::{self, metadata_refs, raw_at, raw_decimal, reference_refs, text};
use crate::sig::{any_hex_matches, check_tolerance, header, kv_pairs};
use async_trait::async_trait;
use chrono_tz::Tz;
use cuadra_sdk::{
    CompanyContext, Money, PaymentKind, PaymentRecord, Record, VerifiedRequest, WebhookError,
    WebhookHandler, WebhookOutcome, WebhookRequest,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::value::RawValue;
use serde_json::Value;

pub const DEFAULT_API_BASE: &str = "https://api.mercadopago.com";
const ACK: &str = r#"{"received":true}"#;

/// Verifies and confirms Mercado Pago notifications.
pub struct MercadoPagoHandler {
    pub(crate) secret: SecretString,
    pub(crate) tolerance_secs: u64,
    pub(crate) api_base: String,
    pub(crate) access_token: SecretString,
    pub(crate) client: ApiClient,
    pub(crate) tz: Tz,
}

impl std::fmt::Debug for MercadoPagoHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MercadoPagoHandler({})", self.api_base)
    }
}

/// The `data.id` a notification is about: from the query string when given, else from the body.
pub fn data_id(query: Option<&str>, body: &[u8]) -> Option<String> {
    if let Some(q) = query {
        let q = q.trim_start_matches('?');
        for pair in q.split('&') {
            if let Some(v) = pair.strip_prefix("data.id=") {
                return Some(percent_decode(v).trim().to_string()).filter(|s| !s.is_empty());
            }
        }
    }
    let v: Value = serde_json::from_slice(body).ok()?;
    text(&v, &["data", "id"])
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let decoded = (b[i] == b'%')
            .then(|| b.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match decoded {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(if b[i] == b'+' { b' ' } else { b[i] });
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The signed manifest.
pub fn manifest(data_id: Option<&str>, request_id: Option<&str>, ts: &str) -> String {
    let mut m = String::new();
    if let Some(id) = data_id.map(str::trim).filter(|s| !s.is_empty()) {
        m.push_str(&format!("id:{id};"));
    }
    if let Some(r) = request_id.map(str::trim).filter(|s| !s.is_empty()) {
        m.push_str(&format!("request-id:{r};"));
    }
    m.push_str(&format!("ts:{ts};"));
    m
}

/// Checks an `x-signature` value for the given data id and request id.
pub fn verify_signature(
    secret: &str,
    x_signature: &str,
    data_id: Option<&str>,
    request_id: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
    tolerance_secs: u64,
) -> Result<(), WebhookError> {
    let pairs = kv_pairs(x_signature);
    let ts = pairs
        .iter()
        .find(|(k, _)| k == "ts")
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| WebhookError::Unauthorized("x-signature has no ts=".into()))?;
    let ts_num: i64 = ts
        .parse()
        .map_err(|_| WebhookError::Unauthorized("x-signature ts= is not a number".into()))?;
    let v1: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "v1")
        .map(|(_, v)| v.as_str())
        .collect();
    if v1.is_empty() {
        return Err(WebhookError::Unauthorized("x-signature has no v1=".into()));
    }
    let m = manifest(data_id, request_id, ts);
    if !any_hex_matches(secret.as_bytes(), &[m.as_bytes()], &v1) {
        return Err(WebhookError::Unauthorized(
            "x-signature does not match the notification".into(),
        ));
    }
    if tolerance_secs == 0 {
        // Replay window disabled by configuration: the notification id dedupe and the confirming fetch remain.
        return Ok(());
    }
    let secs = if ts_num.unsigned_abs() >= 1_000_000_000_000 {
        ts_num / 1000
    } else {
        ts_num
    };
    check_tolerance(secs, now, tolerance_secs)
}

#[async_trait]
impl WebhookHandler for MercadoPagoHandler {
    fn verify(&self, req: &WebhookRequest<'_>) -> Result<VerifiedRequest, WebhookError> {
        let sig = header(req, "x-signature")
            .ok_or_else(|| WebhookError::Unauthorized("missing x-signature header".into()))?;
        let id = data_id(req.query, req.body);
        verify_signature(
            self.secret.expose_secret(),
            sig,
            id.as_deref(),
            header(req, "x-request-id"),
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
        let note = json::parse_object(req.body(), "Mercado Pago notification")?;
        let topic = text(&note, &["type"])
            .or_else(|| text(&note, &["topic"]))
            .unwrap_or_default();
        if topic != "payment" {
            return Ok(answer(200, ACK));
        }
        let pay_id = data_id(req.query(), req.body()).ok_or_else(|| {
            WebhookError::Malformed("field data.id: expected the payment id".into())
        })?;
        let delivery_id = text(&note, &["id"]).unwrap_or_else(|| {
            let action = text(&note, &["action"]).unwrap_or_default();
            let rid = req.header("x-request-id").unwrap_or_default();
            format!("payment:{action}:{pay_id}:{rid}")
        });
        let url = format!("{}/v1/payments/{}", self.api_base, path_segment(&pay_id));
        let raw = self
            .client
            .get(
                &url,
                ApiAuth::Bearer(&self.access_token),
                &format!("Mercado Pago payment {pay_id}"),
            )
            .await?;
        let records = map_payment(&raw, self.tz)?;
        if records.is_empty() {
            return Ok(answer(200, ACK));
        }
        Ok(store(
            req,
            "mercadopago",
            delivery_id,
            records.into_iter().map(Record::Payment).collect(),
            ACK,
        ))
    }
}

/// Maps a `GET /v1/payments/{id}` response to payment records (empty unless approved or refunded).
pub fn map_payment(raw: &[u8], tz: Tz) -> Result<Vec<PaymentRecord>, WebhookError> {
    let pay = json::parse_object(raw, "Mercado Pago payment")?;
    let raw_text = String::from_utf8_lossy(raw);
    let status = text(&pay, &["status"]).unwrap_or_default();
    if status != "approved" && status != "refunded" {
        return Ok(Vec::new());
    }
    let id = text(&pay, &["id"])
        .ok_or_else(|| WebhookError::Malformed("field id: expected the payment id".into()))?;
    let currency = json::currency(&pay, &["currency_id"])?;
    let amount = Money::new(
        json::decimal_at(&raw_text, &["transaction_amount"], false)?,
        currency,
    );
    let booked_on = ["date_approved", "date_created"]
        .iter()
        .find_map(|k| text(&pay, &[k]).and_then(|s| json::date_from_rfc3339(&s, tz)))
        .ok_or_else(|| {
            WebhookError::Malformed("field date_approved: expected an ISO 8601 instant".into())
        })?;
    let mut p = payment(PaymentKind::Provider, id.clone(), booked_on, amount);
    p.value_date =
        text(&pay, &["money_release_date"]).and_then(|s| json::date_from_rfc3339(&s, tz));
    p.document_id = Some(id.clone());
    p.status = Some(match text(&pay, &["status_detail"]) {
        Some(d) => format!("{status}/{d}"),
        None => status.clone(),
    });
    p.operation_number = text(&pay, &["authorization_code"]);
    let reference = text(&pay, &["external_reference"]);
    let (mut remittance, hint) = metadata_refs(pay.get("metadata"));
    for line in reference_refs(reference.as_deref()) {
        if !remittance.contains(&line) {
            remittance.push(line);
        }
    }
    p.remittance = remittance.clone();
    p.customer_hint = hint.clone();
    p.bank_reference = reference;
    p.concepto = text(&pay, &["description"]);
    if text(&pay, &["payer", "identification", "type"])
        .is_some_and(|t| t.eq_ignore_ascii_case("RFC"))
    {
        p.payer_rfc = text(&pay, &["payer", "identification", "number"]);
    }
    let name = [
        text(&pay, &["payer", "first_name"]),
        text(&pay, &["payer", "last_name"]),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    p.payer_name = Some(name).filter(|n| !n.is_empty());
    let mut out = vec![p];
    out.extend(refunds(
        &pay,
        &raw_text,
        currency,
        &id,
        tz,
        &remittance,
        &hint,
    )?);
    out.retain(|p| !p.amount.is_zero());
    Ok(out)
}

fn refunds(
    pay: &Value,
    raw_text: &str,
    currency: cuadra_sdk::Currency,
    payment_id: &str,
    tz: Tz,
    remittance: &[cuadra_sdk::RemittanceLine],
    hint: &Option<String>,
) -> Result<Vec<PaymentRecord>, WebhookError> {
    let mut out = Vec::new();
    let Some(Value::Array(list)) = pay.get("refunds") else {
        return Ok(out);
    };
    let raws: Vec<Box<RawValue>> = raw_at(raw_text, &["refunds"], false)
        .and_then(|r| serde_json::from_str(r.get()).ok())
        .unwrap_or_default();
    for (i, r) in list.iter().enumerate() {
        if text(r, &["status"]).is_some_and(|s| s != "approved") {
            continue;
        }
        let rid = text(r, &["id"]).ok_or_else(|| {
            WebhookError::Malformed(format!("field refunds[{i}].id: expected the refund id"))
        })?;
        let field = format!("refunds[{i}].amount");
        let amount = raws
            .get(i)
            .and_then(|raw| raw_at(raw.get(), &["amount"], false))
            .map(|raw| raw_decimal(&raw, &field))
            .transpose()?
            .flatten()
            .ok_or_else(|| {
                WebhookError::Malformed(format!("field {field}: expected a decimal amount"))
            })?;
        let booked_on = text(r, &["date_created"])
            .and_then(|s| json::date_from_rfc3339(&s, tz))
            .ok_or_else(|| {
                WebhookError::Malformed(format!(
                    "field refunds[{i}].date_created: expected an ISO 8601 instant"
                ))
            })?;
        let mut p = payment(
            PaymentKind::Provider,
            rid,
            booked_on,
            Money::new(-amount.abs(), currency),
        );
        p.document_id = Some(payment_id.to_string());
        p.status = Some("refunded".into());
        p.remittance = remittance.to_vec();
        p.customer_hint = hint.clone();
        out.push(p);
    }
    Ok(out)
}
