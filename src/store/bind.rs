//! One binder per ledger table: the columns a record fills and the function that binds one record's row in that
//! order. The one-by-one path (a row of `VALUES`) and the batched path (many rows in one statement) bind through
//! the same function, so both store the same values.

use super::dialect::Query;
use super::ingest::normalize_account;
use super::ts;
use cuadra_sdk::{
    to_micros, CreditRecord, CustomerRecord, Delivery, InvoiceRecord, PaymentKind, PaymentRecord,
};

/// Columns of the rows [`bind_raw`] binds.
pub(crate) const RAW_COLUMNS: &str =
    "source, kind, external_id, sha256, body, received_at, encoding, dict_id";
/// Columns of the rows [`bind_invoice`] binds.
pub(crate) const INVOICE_COLUMNS: &str = "uuid, serie, folio, issuer_rfc, customer_rfc, customer_name, issued_at, \
     issued_on, due_on, due_source, currency, total_micros, subtotal_micros, exchange_rate, payment_method, \
     payment_form, version, erp_id, erp_residual_micros, replaces, raw_id, created_at, updated_at";
/// Columns of the rows [`bind_credit`] binds.
pub(crate) const CREDIT_COLUMNS: &str =
    "uuid, serie, folio, issuer_rfc, customer_rfc, issued_at, currency, \
     total_micros, exchange_rate, relation_type, applies_to, version, raw_id, created_at";
/// Columns of the rows [`bind_payment`] binds.
pub(crate) const PAYMENT_COLUMNS: &str = "source, kind, external_id, own_account, booked_on, value_date, currency, \
     amount_micros, bank_reference, clave_rastreo, payer_name, payer_rfc, payer_account, referencia_numerica, \
     concepto, document_id, operation_number, customer_hint, status, remittance, raw_id, created_at";
/// The columns of a customer that its master row sets, in the order [`customer_values`] gives them (the key,
/// `customer_key`, and the instants are the caller's).
pub(crate) const CUSTOMER_COLUMNS: &[&str] = &[
    "rfc",
    "name",
    "emails",
    "phone",
    "whatsapp",
    "credit_days",
    "credit_limit_micros",
    "currency",
    "payment_reference",
    "language",
    "erp_id",
    "content_hash",
];

/// Binds one raw inbox row, in [`RAW_COLUMNS`] order.
pub(crate) fn bind_raw<'q>(
    q: Query<'q>,
    (source, d): (&str, &Delivery),
    sha: &str,
    p: super::raw::Packed,
    now: &str,
) -> Query<'q> {
    q.bind(source.to_string())
        .bind(d.kind.clone())
        .bind(d.external_id.clone())
        .bind(sha.to_string())
        .bind(p.body)
        .bind(now.to_string())
        .bind(p.encoding)
        .bind(p.dict_id)
}

/// Binds one invoice row, in [`INVOICE_COLUMNS`] order.
pub(crate) fn bind_invoice<'q>(
    q: Query<'q>,
    i: &InvoiceRecord,
    issued_on: String,
    raw_id: i64,
    now: &str,
) -> anyhow::Result<Query<'q>> {
    let from_erp = i.version == "erp";
    let replaces: Vec<&str> = i.replaces.iter().map(|u| u.as_str()).collect();
    Ok(q.bind(i.uuid.as_ref().map(|u| u.to_string()))
        .bind(i.serie.clone())
        .bind(i.folio.clone())
        .bind(i.issuer_rfc.as_ref().map(|r| r.to_string()))
        .bind(i.customer_rfc.as_ref().map(|r| r.to_string()))
        .bind(i.customer_name.clone())
        .bind(ts(i.issued_at))
        .bind(issued_on)
        .bind(i.due_at.map(|d| d.to_string()))
        .bind(i.due_at.map(|_| if from_erp { "erp" } else { "source" }))
        .bind(i.total.currency().to_string())
        .bind(i.total.to_micros()?)
        .bind(i.subtotal.map(to_micros).transpose()?)
        .bind(i.exchange_rate.map(|x| x.to_string()))
        .bind(i.payment_method.map(|m| format!("{m:?}").to_uppercase()))
        .bind(i.payment_form.clone())
        .bind(i.version.clone())
        .bind(i.erp_id.clone())
        .bind(i.erp_residual.map(to_micros).transpose()?)
        .bind(serde_json::to_string(&replaces)?)
        .bind(raw_id)
        .bind(now.to_string())
        .bind(now.to_string()))
}

/// Binds one credit note row, in [`CREDIT_COLUMNS`] order.
pub(crate) fn bind_credit<'q>(
    q: Query<'q>,
    c: &CreditRecord,
    raw_id: i64,
    now: &str,
) -> anyhow::Result<Query<'q>> {
    let applies: Vec<&str> = c.applies_to.iter().map(|u| u.as_str()).collect();
    Ok(q.bind(c.uuid.as_str().to_string())
        .bind(c.serie.clone())
        .bind(c.folio.clone())
        .bind(c.issuer_rfc.as_ref().map(|x| x.to_string()))
        .bind(c.customer_rfc.as_ref().map(|x| x.to_string()))
        .bind(ts(c.issued_at))
        .bind(c.total.currency().to_string())
        .bind(c.total.to_micros()?)
        .bind(c.exchange_rate.map(|x| x.to_string()))
        .bind(c.relation_type.clone())
        .bind(serde_json::to_string(&applies)?)
        .bind(c.version.clone())
        .bind(raw_id)
        .bind(now.to_string()))
}

/// Binds one payment row, in [`PAYMENT_COLUMNS`] order.
pub(crate) fn bind_payment<'q>(
    q: Query<'q>,
    source: &str,
    p: &PaymentRecord,
    raw_id: i64,
    now: &str,
) -> anyhow::Result<Query<'q>> {
    Ok(q.bind(source.to_string())
        .bind(p.kind.as_str().to_string())
        .bind(p.external_id.clone())
        .bind(p.own_account.clone())
        .bind(p.booked_on.to_string())
        .bind(p.value_date.map(|d| d.to_string()))
        .bind(p.amount.currency().to_string())
        .bind(p.amount.to_micros()?)
        .bind(p.bank_reference.clone())
        .bind(p.clave_rastreo.clone())
        .bind(p.payer_name.clone())
        .bind(p.payer_rfc.clone())
        .bind(p.payer_account.as_deref().map(normalize_account))
        .bind(p.referencia_numerica.clone())
        .bind(p.concepto.clone())
        .bind(p.document_id.clone().map(|d| {
            if p.kind == PaymentKind::Rep {
                d.to_lowercase()
            } else {
                d
            }
        }))
        .bind(p.operation_number.clone())
        .bind(p.customer_hint.clone())
        .bind(p.status.clone())
        .bind(serde_json::to_string(&p.remittance)?)
        .bind(raw_id)
        .bind(now.to_string()))
}

/// What a customer master row sets, in [`CUSTOMER_COLUMNS`] order (as JSON values: bound one by one, or sent as
/// one JSON array per row by the bulk path).
pub(crate) fn customer_values(
    c: &CustomerRecord,
    hash: &str,
) -> anyhow::Result<[serde_json::Value; 12]> {
    use serde_json::Value;
    let text = |s: Option<String>| s.map_or(Value::Null, Value::String);
    let int = |n: Option<i64>| n.map_or(Value::Null, Value::from);
    Ok([
        text(c.rfc.as_ref().map(|r| r.to_string())),
        Value::String(c.name.clone()),
        Value::String(c.emails.join(";")),
        text(c.phone.clone()),
        text(c.whatsapp.clone()),
        int(c.credit_days.map(i64::from)),
        int(c.credit_limit.map(to_micros).transpose()?),
        text(c.currency.map(|x| x.to_string())),
        text(c.payment_reference.clone()),
        text(c.language.clone()),
        text(c.erp_id.clone()),
        Value::String(hash.to_string()),
    ])
}

/// Whether a column of [`CUSTOMER_COLUMNS`] holds an integer (the others hold text).
pub(crate) fn customer_column_is_int(column: &str) -> bool {
    matches!(column, "credit_days" | "credit_limit_micros")
}

/// Binds [`customer_values`] in [`CUSTOMER_COLUMNS`] order.
pub(crate) fn bind_customer<'q>(
    mut q: Query<'q>,
    c: &CustomerRecord,
    hash: &str,
) -> anyhow::Result<Query<'q>> {
    for (column, v) in CUSTOMER_COLUMNS.iter().zip(customer_values(c, hash)?) {
        q = if customer_column_is_int(column) {
            q.bind(v.as_i64())
        } else {
            q.bind(v.as_str().map(str::to_string))
        };
    }
    Ok(q)
}
