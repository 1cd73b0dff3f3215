//! Odoo rows (`res.partner`, `account.move`) as `search_read` returns them, and their mapping to SDK records.
//! Odoo writes "no value" as `false` and amounts as JSON numbers; amounts are read from the number's literal
//! text, exactly.

use crate::json::{self, OrFalse};
use cuadra_sdk::{
    CfdiUuid, CreditRecord, Currency, CustomerRecord, Delivery, InvoiceRecord, Money, Record, Rfc,
    SeenRecord,
};
use serde::Deserialize;
use serde_json::value::RawValue;

pub const DELIVERY_KIND: &str = "odoo";
pub const PARTNER_FIELDS: &[&str] = &[
    "name",
    "vat",
    "email",
    "phone",
    "mobile",
    "lang",
    "ref",
    "write_date",
];
pub const MOVE_FIELDS: &[&str] = &[
    "name",
    "move_type",
    "state",
    "partner_id",
    "invoice_date",
    "invoice_date_due",
    "amount_total",
    "amount_residual",
    "currency_id",
    "payment_state",
    "write_date",
];
/// Added to [`MOVE_FIELDS`] when `l10n_mx_edi` is installed.
pub const UUID_FIELD: &str = "l10n_mx_edi_cfdi_uuid";

#[derive(Debug, Deserialize)]
pub struct Partner {
    pub id: i64,
    #[serde(default)]
    pub name: OrFalse<String>,
    #[serde(default)]
    pub vat: OrFalse<String>,
    #[serde(default)]
    pub email: OrFalse<String>,
    #[serde(default)]
    pub phone: OrFalse<String>,
    #[serde(default)]
    pub mobile: OrFalse<String>,
    #[serde(default)]
    pub lang: OrFalse<String>,
    #[serde(default)]
    pub write_date: OrFalse<String>,
}

/// A many2one value: `[id, "display name"]`.
#[derive(Debug, Clone, Deserialize)]
pub struct Many2one(pub i64, pub String);

#[derive(Debug, Deserialize)]
pub struct Move {
    pub id: i64,
    #[serde(default)]
    pub name: OrFalse<String>,
    #[serde(default)]
    pub move_type: OrFalse<String>,
    #[serde(default)]
    pub state: OrFalse<String>,
    #[serde(default)]
    pub partner_id: OrFalse<Many2one>,
    #[serde(default)]
    pub invoice_date: OrFalse<String>,
    #[serde(default)]
    pub invoice_date_due: OrFalse<String>,
    pub amount_total: Box<RawValue>,
    pub amount_residual: Box<RawValue>,
    #[serde(default)]
    pub currency_id: OrFalse<Many2one>,
    #[serde(default)]
    pub payment_state: OrFalse<String>,
    #[serde(default)]
    pub write_date: OrFalse<String>,
    #[serde(default)]
    pub l10n_mx_edi_cfdi_uuid: OrFalse<String>,
}

fn text(v: OrFalse<String>) -> Option<String> {
    v.0.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Odoo's VAT field may carry a country prefix (`MXAAA010101AAA`); RFCs are 12 or 13 characters.
pub fn rfc_from_vat(vat: &str) -> Option<Rfc> {
    let t = vat.trim();
    let t = match t.len() {
        14 | 15 if t.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("MX")) => {
            t.get(2..).unwrap_or(t)
        }
        _ => t,
    };
    Rfc::parse(t).ok()
}

/// Serie and folio from a move name the way `l10n_mx_edi` splits it: the folio is the last run of digits
/// (leading zeros dropped), the serie everything before it.
pub fn serie_folio(name: &str) -> (Option<String>, Option<String>) {
    let bytes = name.as_bytes();
    let Some(end) = bytes.iter().rposition(u8::is_ascii_digit) else {
        return (None, None);
    };
    let start = bytes[..end]
        .iter()
        .rposition(|b| !b.is_ascii_digit())
        .map_or(0, |i| i + 1);
    let serie = name
        .get(..start)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let folio = name
        .get(start..=end)
        .map(|f| f.trim_start_matches('0').to_string())
        .filter(|f| !f.is_empty());
    (serie, folio)
}

/// Maps a partner row (raw bytes kept for the delivery).
pub fn partner(raw: &RawValue) -> Result<Delivery, String> {
    let p: Partner = serde_json::from_str(raw.get()).map_err(|e| format!("res.partner: {e}"))?;
    let id = p.id;
    let vat = text(p.vat);
    let rfc = match vat {
        Some(v) => Some(rfc_from_vat(&v).ok_or_else(|| {
            format!(
                "res.partner {id}: field vat: expected an RFC, found {}",
                json::preview(&v)
            )
        })?),
        None => None,
    };
    let emails = text(p.email)
        .map(|e| {
            e.split([',', ';'])
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let record = CustomerRecord {
        rfc,
        name: text(p.name).unwrap_or_default(),
        emails,
        phone: text(p.phone),
        whatsapp: text(p.mobile),
        language: text(p.lang),
        erp_id: Some(id.to_string()),
        ..CustomerRecord::default()
    };
    Ok(Delivery {
        kind: DELIVERY_KIND.into(),
        external_id: format!("res.partner:{id}"),
        raw: raw.get().as_bytes().to_vec(),
        records: vec![Record::Customer(record)],
    })
}

/// Maps a move row; `partner_rfc` looks up the RFC of a partner id (read in the same page).
pub fn account_move(
    raw: &RawValue,
    partner_rfc: &dyn Fn(i64) -> Option<Rfc>,
) -> Result<Delivery, String> {
    let m: Move = serde_json::from_str(raw.get()).map_err(|e| format!("account.move: {e}"))?;
    let id = m.id;
    let f = |field: &str, e: String| format!("account.move {id}: field {field}: {e}");
    let uuid = text(m.l10n_mx_edi_cfdi_uuid)
        .map(|u| CfdiUuid::parse(&u).map_err(|e| f(UUID_FIELD, e.to_string())))
        .transpose()?;
    let currency_name = m
        .currency_id
        .0
        .as_ref()
        .map(|c| c.1.clone())
        .ok_or_else(|| f("currency_id", "missing".into()))?;
    let currency =
        Currency::parse(currency_name.trim()).map_err(|e| f("currency_id", e.to_string()))?;
    let total = json::decimal(&m.amount_total).map_err(|e| f("amount_total", e))?;
    let residual = json::decimal(&m.amount_residual).map_err(|e| f("amount_residual", e))?;
    let issued = text(m.invoice_date)
        .or_else(|| text(m.write_date))
        .ok_or_else(|| f("invoice_date", "missing".into()))?;
    let issued_at = json::instant(&issued).map_err(|e| f("invoice_date", e))?;
    let due_at = text(m.invoice_date_due)
        .map(|d| json::date(&d).map_err(|e| f("invoice_date_due", e)))
        .transpose()?;
    let name = text(m.name).unwrap_or_default();
    let (serie, folio) = serie_folio(&name);
    let partner = m.partner_id.0;
    let customer_rfc = partner.as_ref().and_then(|p| partner_rfc(p.0));
    let record = match text(m.move_type).as_deref() {
        Some("out_refund") => match uuid {
            Some(uuid) => Record::Credit(CreditRecord {
                uuid,
                serie,
                folio,
                issuer_rfc: None,
                customer_rfc,
                issued_at,
                total: Money::new(total, currency),
                exchange_rate: None,
                relation_type: None,
                applies_to: Vec::new(),
                version: "erp".into(),
            }),
            None => Record::Seen(SeenRecord {
                uuid: None,
                tipo: "E".into(),
                reason: format!("Odoo credit note {name} has no CFDI UUID yet"),
            }),
        },
        _ => Record::Invoice(InvoiceRecord {
            uuid,
            serie,
            folio,
            issuer_rfc: None,
            customer_rfc,
            customer_name: partner.map(|p| p.1),
            issued_at,
            due_at,
            total: Money::new(total, currency),
            subtotal: None,
            exchange_rate: None,
            payment_method: None,
            payment_form: None,
            replaces: Vec::new(),
            erp_id: Some(id.to_string()),
            erp_residual: Some(residual),
            version: "erp".into(),
        }),
    };
    Ok(Delivery {
        kind: DELIVERY_KIND.into(),
        external_id: format!("account.move:{id}"),
        raw: raw.get().as_bytes().to_vec(),
        records: vec![record],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serie_and_folio() {
        assert_eq!(
            serie_folio("INV/2024/00012"),
            (Some("INV/2024/".into()), Some("12".into()))
        );
        assert_eq!(serie_folio("A123"), (Some("A".into()), Some("123".into())));
        assert_eq!(serie_folio("123"), (None, Some("123".into())));
        assert_eq!(serie_folio("/"), (None, None));
        assert_eq!(serie_folio("ñ9"), (Some("ñ".into()), Some("9".into())));
    }

    #[test]
    fn vat_with_country_prefix() {
        assert_eq!(
            rfc_from_vat("MXAAA010101AAA").map(|r| r.as_str().to_string()),
            Some("AAA010101AAA".into())
        );
    }
}
