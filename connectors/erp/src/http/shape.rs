//! The JSON the generic HTTP connector reads, from `pull_url` pages and from inbound webhooks, and its mapping
//! to SDK records.
//!
//! A page (`GET pull_url[?cursor=C | ?updated_since=T]`):
//! ```json
//! {
//!   "customers": [{"erp_id": "C-1", "rfc": "AAA010101AAA", "name": "Acme", "emails": ["ap@acme.mx"],
//!                  "phone": null, "whatsapp": null, "credit_days": 30, "credit_limit": "50000.00",
//!                  "currency": "MXN", "payment_reference": "R-77", "accounts": ["002180..."],
//!                  "language": "es", "updated_at": "2024-05-01T10:00:00Z"}],
//!   "invoices": [{"erp_id": "INV-9", "uuid": "…", "serie": "A", "folio": "9", "customer_rfc": "AAA010101AAA",
//!                 "customer_name": "Acme", "issued_at": "2024-04-01", "due_date": "2024-05-01",
//!                 "payment_terms_days": 30, "payment_method": "PPD", "total": "1160.00", "currency": "MXN",
//!                 "exchange_rate": null, "residual": "500.00", "updated_at": "2024-05-01T10:00:00Z"}],
//!   "next_cursor": "opaque or null"
//! }
//! ```
//! Only `erp_id` and `name` (customers) and `erp_id`, `issued_at`, `total`, `currency` (invoices) are required;
//! amounts are strings or JSON numbers read exactly. `due_date` wins; without it `payment_terms_days` after the
//! issue date gives the due date; without either the daemon computes it. Unknown fields are ignored (ERPs add
//! their own). `email` (one string, `;`/`,`-separated) is accepted for `emails`.

use crate::json::{self, Id};
use chrono::{DateTime, Utc};
use cuadra_sdk::{
    CfdiUuid, Currency, CustomerRecord, Delivery, InvoiceRecord, Money, PaymentMethod, Record, Rfc,
};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The `kind` of deliveries from this connector.
pub const DELIVERY_KIND: &str = "erp-http";

#[derive(Debug, Deserialize)]
pub struct Page {
    #[serde(default)]
    pub customers: Vec<Box<RawValue>>,
    #[serde(default)]
    pub invoices: Vec<Box<RawValue>>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Customer {
    erp_id: Id,
    #[serde(default)]
    rfc: Option<String>,
    name: String,
    #[serde(default)]
    emails: Vec<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    whatsapp: Option<String>,
    #[serde(default)]
    credit_days: Option<u32>,
    #[serde(default)]
    credit_limit: Option<Box<RawValue>>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    payment_reference: Option<String>,
    #[serde(default)]
    accounts: Vec<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Invoice {
    erp_id: Id,
    #[serde(default)]
    uuid: Option<String>,
    #[serde(default)]
    serie: Option<String>,
    #[serde(default)]
    folio: Option<String>,
    #[serde(default)]
    customer_rfc: Option<String>,
    #[serde(default)]
    customer_name: Option<String>,
    issued_at: String,
    #[serde(default)]
    due_date: Option<String>,
    #[serde(default)]
    payment_terms_days: Option<u32>,
    #[serde(default)]
    payment_method: Option<String>,
    total: Box<RawValue>,
    currency: String,
    #[serde(default)]
    exchange_rate: Option<Box<RawValue>>,
    #[serde(default)]
    residual: Option<Box<RawValue>>,
    #[serde(default)]
    updated_at: Option<String>,
}

/// One mapped entry: its delivery and its `updated_at`, if any.
pub struct Mapped {
    pub delivery: Delivery,
    pub updated_at: Option<DateTime<Utc>>,
}

fn field(kind: &str, id: &str, name: &str, msg: impl std::fmt::Display) -> String {
    format!("{kind} {id}: field {name}: {msg}")
}

fn blank(s: Option<String>) -> Option<String> {
    s.map(|x| x.trim().to_string()).filter(|x| !x.is_empty())
}

fn updated(kind: &str, id: &str, s: Option<&str>) -> Result<Option<DateTime<Utc>>, String> {
    s.map(|t| json::instant(t).map_err(|e| field(kind, id, "updated_at", e)))
        .transpose()
}

/// Maps one customer object (`raw`) to a delivery.
pub fn customer(raw: &RawValue) -> Result<Mapped, String> {
    let c: Customer = serde_json::from_str(raw.get()).map_err(|e| format!("customer: {e}"))?;
    let id = c.erp_id.0.clone();
    let rfc = blank(c.rfc)
        .map(|r| Rfc::parse(&r).map_err(|e| field("customer", &id, "rfc", e)))
        .transpose()?;
    let mut emails = c.emails;
    if let Some(e) = c.email {
        emails.extend(e.split([';', ',']).map(|x| x.trim().to_string()));
    }
    emails.retain(|e| !e.is_empty());
    let currency = blank(c.currency)
        .map(|x| Currency::parse(&x).map_err(|e| field("customer", &id, "currency", e)))
        .transpose()?;
    let credit_limit = c
        .credit_limit
        .map(|r| json::decimal(&r).map_err(|e| field("customer", &id, "credit_limit", e)))
        .transpose()?;
    let updated_at = updated("customer", &id, c.updated_at.as_deref())?;
    let record = CustomerRecord {
        rfc,
        name: c.name,
        emails,
        phone: blank(c.phone),
        whatsapp: blank(c.whatsapp),
        credit_days: c.credit_days,
        credit_limit,
        currency,
        payment_reference: blank(c.payment_reference),
        accounts: c.accounts,
        language: blank(c.language),
        erp_id: Some(id.clone()),
        group: None,
    };
    Ok(Mapped {
        delivery: Delivery {
            kind: DELIVERY_KIND.into(),
            external_id: format!("customer:{id}"),
            raw: raw.get().as_bytes().to_vec(),
            records: vec![Record::Customer(record)],
        },
        updated_at,
    })
}

/// Maps one invoice object (`raw`) to a delivery.
pub fn invoice(raw: &RawValue) -> Result<Mapped, String> {
    let i: Invoice = serde_json::from_str(raw.get()).map_err(|e| format!("invoice: {e}"))?;
    let id = i.erp_id.0.clone();
    let f = |name: &str, e: String| field("invoice", &id, name, e);
    let uuid = blank(i.uuid)
        .map(|u| CfdiUuid::parse(&u).map_err(|e| f("uuid", e.to_string())))
        .transpose()?;
    let customer_rfc = blank(i.customer_rfc)
        .map(|r| Rfc::parse(&r).map_err(|e| f("customer_rfc", e.to_string())))
        .transpose()?;
    let issued_at = json::instant(&i.issued_at).map_err(|e| f("issued_at", e))?;
    let due_at = match blank(i.due_date) {
        Some(d) => Some(json::date(&d).map_err(|e| f("due_date", e))?),
        None => match i.payment_terms_days {
            Some(days) => issued_at
                .date_naive()
                .checked_add_days(chrono::Days::new(u64::from(days))),
            None => None,
        },
    };
    let currency = Currency::parse(i.currency.trim()).map_err(|e| f("currency", e.to_string()))?;
    let total = json::decimal(&i.total).map_err(|e| f("total", e))?;
    let residual = i
        .residual
        .map(|r| json::decimal(&r).map_err(|e| f("residual", e)))
        .transpose()?;
    let exchange_rate = i
        .exchange_rate
        .filter(|r| r.get() != "null")
        .map(|r| json::decimal(&r).map_err(|e| f("exchange_rate", e)))
        .transpose()?;
    let payment_method = match blank(i.payment_method).map(|m| m.to_ascii_uppercase()) {
        None => None,
        Some(m) if m == "PUE" => Some(PaymentMethod::Pue),
        Some(m) if m == "PPD" => Some(PaymentMethod::Ppd),
        Some(m) => {
            return Err(f(
                "payment_method",
                format!("expected PUE or PPD, found {}", json::preview(&m)),
            ))
        }
    };
    let updated_at = updated("invoice", &id, i.updated_at.as_deref())?;
    let record = InvoiceRecord {
        uuid,
        serie: blank(i.serie),
        folio: blank(i.folio),
        issuer_rfc: None,
        customer_rfc,
        customer_name: blank(i.customer_name),
        issued_at,
        due_at,
        total: Money::new(total, currency),
        subtotal: None,
        exchange_rate,
        payment_method,
        payment_form: None,
        replaces: Vec::new(),
        erp_id: Some(id.clone()),
        erp_residual: residual,
        version: "erp".into(),
    };
    Ok(Mapped {
        delivery: Delivery {
            kind: DELIVERY_KIND.into(),
            external_id: format!("invoice:{id}"),
            raw: raw.get().as_bytes().to_vec(),
            records: vec![Record::Invoice(record)],
        },
        updated_at,
    })
}

/// Maps an entry that failed: the raw bytes are still delivered (for the audit), with no records.
pub fn unparsed(kind: &str, raw: &RawValue) -> Delivery {
    Delivery {
        kind: DELIVERY_KIND.into(),
        external_id: format!(
            "{kind}:unparsed:{}",
            cuadra_sdk::sha256_hex(raw.get().as_bytes())
        ),
        raw: raw.get().as_bytes().to_vec(),
        records: Vec::new(),
    }
}

type MapFn = fn(&RawValue) -> Result<Mapped, String>;

/// A page mapped: deliveries, the problems found (one line each, naming entry and field), the latest
/// `updated_at` seen.
#[derive(Debug, Default)]
pub struct MappedPage {
    pub deliveries: Vec<Delivery>,
    pub problems: Vec<String>,
    pub max_updated_at: Option<DateTime<Utc>>,
    pub next_cursor: Option<String>,
}

/// Parses and maps a whole page. A bad entry is kept raw and reported; the rest goes on.
pub fn map_page(body: &[u8]) -> Result<MappedPage, String> {
    let page: Page = serde_json::from_slice(body).map_err(|e| format!("page: {e}"))?;
    let mut out = MappedPage {
        next_cursor: page.next_cursor.filter(|c| !c.is_empty()),
        ..MappedPage::default()
    };
    let lists: [(&str, &Vec<Box<RawValue>>, MapFn); 2] = [
        ("customers", &page.customers, customer),
        ("invoices", &page.invoices, invoice),
    ];
    for (name, list, map) in lists {
        for (i, raw) in list.iter().enumerate() {
            match map(raw) {
                Ok(m) => {
                    out.max_updated_at = out.max_updated_at.max(m.updated_at);
                    out.deliveries.push(m.delivery);
                }
                Err(e) => {
                    out.problems.push(format!("{name}[{i}]: {e}"));
                    out.deliveries.push(unparsed(name, raw));
                }
            }
        }
    }
    Ok(out)
}
