//! Small helpers to read provider JSON without panics and without floats: exact decimals come from the number's
//! literal text (`serde_json::value::RawValue`), minor units from integers; dates in the company's zone; invoice
//! references and customer hints from provider metadata.

use chrono::{DateTime, NaiveDate, TimeZone};
use chrono_tz::Tz;
use cuadra_sdk::{
    json_decimal, CfdiUuid, Currency, Exponent, InvoiceRef, Money, RemittanceLine, WebhookError,
};
use rust_decimal::Decimal;
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::BTreeMap;

/// Parses a request or response body as a JSON object.
pub(crate) fn parse_object(body: &[u8], what: &str) -> Result<Value, WebhookError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| WebhookError::Malformed(format!("{what}: expected a JSON object: {e}")))?;
    if !v.is_object() {
        return Err(WebhookError::Malformed(format!(
            "{what}: expected a JSON object at the top level"
        )));
    }
    Ok(v)
}

/// The value at `path` (object keys), if every step exists.
pub(crate) fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for key in path {
        cur = cur.get(*key)?;
    }
    Some(cur)
}

/// A string at `path`; numbers are given as their text; empty strings and `"null"` count as absent.
pub(crate) fn text(v: &Value, path: &[&str]) -> Option<String> {
    at(v, path).and_then(scalar_text)
}

/// A scalar's text (string trimmed, integer as written); `None` for null, empty, `"null"`, objects, arrays.
pub(crate) fn scalar_text(v: &Value) -> Option<String> {
    let s = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    if s.is_empty() || s.eq_ignore_ascii_case("null") {
        None
    } else {
        Some(s)
    }
}

/// An integer at `path` (a JSON integer or a string of digits).
pub(crate) fn int(v: &Value, path: &[&str]) -> Option<i64> {
    match at(v, path)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An amount given in the currency's minor units (Stripe, Conekta) as exact `Money`.
pub(crate) fn minor_units(
    v: &Value,
    path: &[&str],
    currency: Currency,
) -> Result<Money, WebhookError> {
    let field = path.join(".");
    let n = match at(v, path) {
        Some(Value::Number(n)) => n.as_i64(),
        _ => None,
    }
    .ok_or_else(|| {
        WebhookError::Malformed(format!(
            "field {field}: expected an integer amount in minor units"
        ))
    })?;
    Ok(Money::new(
        Decimal::new(n, currency.minor_digits()),
        currency,
    ))
}

/// The currency at `path`, upper-cased.
pub(crate) fn currency(v: &Value, path: &[&str]) -> Result<Currency, WebhookError> {
    let field = path.join(".");
    let s = text(v, path).ok_or_else(|| {
        WebhookError::Malformed(format!(
            "field {field}: expected a three-letter currency code"
        ))
    })?;
    // Checked against SAT's c_Moneda like a CFDI's Moneda: a verified payment in `XYZ` is refused, not stored.
    Currency::parse_known(&s).map_err(|e| WebhookError::Malformed(format!("field {field}: {e}")))
}

/// A JSON object whose members keep their literal text, for exact decimals.
pub(crate) type RawObject = BTreeMap<String, Box<RawValue>>;

/// Parses `json` as an object of raw members; `None` if it is not an object.
pub(crate) fn raw_object(json: &str) -> Option<RawObject> {
    serde_json::from_str(json).ok()
}

/// Walks `path` through raw objects. `ignore_case` matches keys regardless of ASCII case (STP's casings).
pub(crate) fn raw_at(json: &str, path: &[&str], ignore_case: bool) -> Option<Box<RawValue>> {
    let (last, parents) = path.split_last()?;
    let mut obj = raw_object(json)?;
    for key in parents {
        let child = take_key(&mut obj, key, ignore_case)?;
        obj = raw_object(child.get())?;
    }
    take_key(&mut obj, last, ignore_case)
}

fn take_key(obj: &mut RawObject, key: &str, ignore_case: bool) -> Option<Box<RawValue>> {
    if let Some(v) = obj.remove(key) {
        return Some(v);
    }
    if ignore_case {
        let found = obj.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()?;
        return obj.remove(&found);
    }
    None
}

/// An exact decimal from a raw JSON value (the SDK's [`json_decimal`]): a number literal as written (`100.0`,
/// `58.80`) or a decimal string (`"123.12"`). Exponent forms and anything else are refused; `null` is `Ok(None)`.
pub(crate) fn raw_decimal(raw: &RawValue, field: &str) -> Result<Option<Decimal>, WebhookError> {
    json_decimal(raw, Exponent::Refuse)
        .map_err(|e| WebhookError::Malformed(format!("field {field}: {e}")))
}

/// An exact decimal amount at `path` in the JSON text `json`; absent or null is an error naming the field.
pub(crate) fn decimal_at(
    json: &str,
    path: &[&str],
    ignore_case: bool,
) -> Result<Decimal, WebhookError> {
    let field = path.join(".");
    let raw = raw_at(json, path, ignore_case).ok_or_else(|| {
        WebhookError::Malformed(format!("field {field}: expected a decimal amount"))
    })?;
    raw_decimal(&raw, &field)?.ok_or_else(|| {
        WebhookError::Malformed(format!(
            "field {field}: expected a decimal amount, found null"
        ))
    })
}

/// The civil date, in `tz`, of a Unix instant in seconds.
pub(crate) fn date_from_unix(secs: i64, tz: Tz) -> Option<NaiveDate> {
    let utc = DateTime::from_timestamp(secs, 0)?;
    Some(tz.from_utc_datetime(&utc.naive_utc()).date_naive())
}

/// The civil date, in `tz`, of an RFC 3339 / ISO 8601 instant with offset (`2026-01-15T10:21:33-06:00`,
/// `2024-01-15T10:30:01.000-03:00`).
pub(crate) fn date_from_rfc3339(s: &str, tz: Tz) -> Option<NaiveDate> {
    let dt = DateTime::parse_from_rfc3339(s.trim()).ok()?;
    Some(dt.with_timezone(&tz).date_naive())
}

const UUID_KEYS: &[&str] = &["cfdi_uuid", "invoice_uuid", "uuid", "factura_uuid", "cfdi"];
const ERP_KEYS: &[&str] = &[
    "invoice",
    "invoice_id",
    "invoice_ids",
    "invoice_number",
    "erp_id",
    "erp_invoice_id",
    "factura",
    "factura_id",
];
const SERIE_KEYS: &[&str] = &["serie", "invoice_serie"];
const FOLIO_KEYS: &[&str] = &["folio", "invoice_folio"];
const CUSTOMER_KEYS: &[&str] = &[
    "customer_rfc",
    "rfc",
    "erp_customer_id",
    "customer_id",
    "customer",
    "cliente",
    "cliente_id",
];

/// Invoice references and a customer hint from a provider `metadata` object. Recognised keys (any ASCII case):
/// UUIDs in `cfdi_uuid`, `invoice_uuid`, `uuid`, `factura_uuid`, `cfdi`; ERP ids in `invoice`, `invoice_id`,
/// `invoice_ids`, `invoice_number`, `erp_id`, `erp_invoice_id`, `factura`, `factura_id` (a value that is a UUID is
/// taken as one); `serie`/`invoice_serie` with `folio`/`invoice_folio`; several values may be separated by `,` or
/// `;`. The customer hint is the first of `customer_rfc`, `rfc`, `erp_customer_id`, `customer_id`, `customer`,
/// `cliente`, `cliente_id`.
pub(crate) fn metadata_refs(meta: Option<&Value>) -> (Vec<RemittanceLine>, Option<String>) {
    let Some(Value::Object(map)) = meta else {
        return (Vec::new(), None);
    };
    let get = |keys: &[&str]| -> Option<String> {
        keys.iter().find_map(|k| {
            map.iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(k))
                .and_then(|(_, v)| scalar_text(v))
        })
    };
    let mut lines = Vec::new();
    for key in UUID_KEYS {
        if let Some(v) = get(&[key]) {
            for part in split_refs(&v) {
                if let Ok(u) = CfdiUuid::parse(part) {
                    push_unique(&mut lines, InvoiceRef::Uuid(u));
                }
            }
        }
    }
    for key in ERP_KEYS {
        if let Some(v) = get(&[key]) {
            for part in split_refs(&v) {
                push_unique(&mut lines, classify_ref(part));
            }
        }
    }
    if let Some(folio) = get(FOLIO_KEYS) {
        let serie = get(SERIE_KEYS);
        push_unique(&mut lines, InvoiceRef::SerieFolio { serie, folio });
    }
    (lines, get(CUSTOMER_KEYS))
}

/// Remittance lines from a free reference the merchant set (Mercado Pago `external_reference`, Openpay
/// `order_id`): each `,`/`;`-separated part is a UUID if it parses as one, else an ERP id.
pub(crate) fn reference_refs(reference: Option<&str>) -> Vec<RemittanceLine> {
    let mut lines = Vec::new();
    if let Some(r) = reference {
        for part in split_refs(r) {
            push_unique(&mut lines, classify_ref(part));
        }
    }
    lines
}

fn split_refs(s: &str) -> impl Iterator<Item = &str> {
    s.split([',', ';']).map(str::trim).filter(|p| !p.is_empty())
}

fn classify_ref(part: &str) -> InvoiceRef {
    match CfdiUuid::parse(part) {
        Ok(u) => InvoiceRef::Uuid(u),
        Err(_) => InvoiceRef::ErpId(part.to_string()),
    }
}

fn push_unique(lines: &mut Vec<RemittanceLine>, invoice: InvoiceRef) {
    if lines.iter().any(|l| l.invoice == invoice) {
        return;
    }
    lines.push(RemittanceLine {
        invoice,
        amount: None,
        equivalence: None,
        installment: None,
        balance_before: None,
        balance_after: None,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_currency_outside_c_moneda_is_refused_naming_the_field() {
        let v: Value = serde_json::json!({"data": {"currency": "xyz"}});
        let e = currency(&v, &["data", "currency"]).unwrap_err().to_string();
        assert!(e.contains("data.currency") && e.contains("XYZ"), "{e}");
        let v: Value = serde_json::json!({"data": {"currency": "usd"}});
        assert_eq!(currency(&v, &["data", "currency"]).unwrap().as_str(), "USD");
    }
}
