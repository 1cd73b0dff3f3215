//! Normalization: a parsed CFDI → the SDK records the daemon stores. Issued I → invoice, E → credit, P → one
//! payment per `Pago`; T, N, received CFDI and unstamped documents → `Seen` (kept for the audit only).

use crate::model::{Cfdi, DoctoRelacionado, Pago, Tipo};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::America::Mexico_City;
use cuadra_sdk::{
    CfdiUuid, CreditRecord, InvoiceRecord, InvoiceRef, Money, PaymentKind, PaymentMethod,
    PaymentRecord, Record, RemittanceLine, Rfc, SeenRecord,
};

/// Relation types that make an E reduce the related invoices (nota de crédito, devolución, anticipo).
const CREDIT_RELATIONS: [&str; 3] = ["01", "03", "07"];

/// Civil time in Mexico (CFDI `Fecha` carries no offset) → UTC, with `America/Mexico_City`. An ambiguous time
/// (autumn DST fold, before 2023) takes the earlier instant; a time in the spring gap is read one hour later.
pub fn mexico_to_utc(t: NaiveDateTime) -> DateTime<Utc> {
    match Mexico_City.from_local_datetime(&t) {
        chrono::LocalResult::Single(d) => d.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
        chrono::LocalResult::None => {
            let later = t + chrono::Duration::hours(1);
            Mexico_City
                .from_local_datetime(&later)
                .earliest()
                .map(|d| d.with_timezone(&Utc))
                // Unreachable for real zones; fall back to reading the time as UTC-6 (central standard time).
                .unwrap_or_else(|| Utc.from_utc_datetime(&(t + chrono::Duration::hours(6))))
        }
    }
}

fn is_company(rfc: &str, company_rfcs: &[Rfc]) -> bool {
    let t = rfc.trim();
    company_rfcs
        .iter()
        .any(|c| c.as_str().eq_ignore_ascii_case(t))
}

fn seen(cfdi: &Cfdi<'_>, reason: impl Into<String>) -> Vec<Record> {
    vec![Record::Seen(SeenRecord {
        uuid: cfdi.uuid.clone(),
        tipo: cfdi.tipo.as_str().to_string(),
        reason: reason.into(),
    })]
}

/// Turns one parsed CFDI into records, from the point of view of the company whose RFCs are given.
///
/// - Emisor is a company RFC and the document is stamped: `I` → [`InvoiceRecord`] (`replaces` = TipoRelacion 04
///   UUIDs); `E` → [`CreditRecord`] (relation type: the first group of type 01/03/07, else the first group;
///   `applies_to`: all UUIDs of groups of that type); `P` → one [`PaymentRecord`] of kind `Rep` per `Pago`
///   (`external_id` = `"<rep uuid>#<index of the Pago, from 0>"`).
/// - `T`, `N`, CFDI received by the company (or by no company RFC at all) and unstamped documents (no
///   TimbreFiscalDigital: not a valid CFDI) → one [`SeenRecord`] with the reason.
pub fn normalize(cfdi: &Cfdi<'_>, company_rfcs: &[Rfc]) -> Vec<Record> {
    if !is_company(&cfdi.emisor.rfc, company_rfcs) {
        let why = if is_company(&cfdi.receptor.rfc, company_rfcs) {
            "received CFDI (the company is the Receptor): not a receivable"
        } else {
            "neither Emisor nor Receptor is a company RFC"
        };
        return seen(cfdi, why);
    }
    let Some(uuid) = cfdi.uuid.clone() else {
        return seen(
            cfdi,
            "not stamped (no TimbreFiscalDigital): not a valid CFDI, no receivable",
        );
    };
    let issued_at = mexico_to_utc(cfdi.fecha);
    match cfdi.tipo {
        Tipo::I => vec![Record::Invoice(invoice(cfdi, uuid, issued_at))],
        Tipo::E => vec![Record::Credit(credit(cfdi, uuid, issued_at))],
        Tipo::P => {
            if cfdi.pagos.is_empty() {
                return seen(
                    cfdi,
                    "tipo P without a Pagos complement: no payment to record",
                );
            }
            cfdi.pagos
                .iter()
                .enumerate()
                .map(|(i, p)| Record::Payment(payment(cfdi, &uuid, i, p)))
                .collect()
        }
        Tipo::T => seen(cfdi, "tipo T (traslado): not a receivable"),
        Tipo::N => seen(cfdi, "tipo N (nómina): not a receivable"),
    }
}

fn rfc_of(s: &str) -> Option<Rfc> {
    Rfc::parse(s).ok()
}

fn invoice(cfdi: &Cfdi<'_>, uuid: CfdiUuid, issued_at: DateTime<Utc>) -> InvoiceRecord {
    let replaces = cfdi
        .relations
        .iter()
        .filter(|r| r.tipo.trim() == "04")
        .flat_map(|r| r.uuids.iter().cloned())
        .collect();
    InvoiceRecord {
        uuid: Some(uuid),
        serie: cfdi.serie.as_ref().map(|s| s.to_string()),
        folio: cfdi.folio.as_ref().map(|s| s.to_string()),
        issuer_rfc: rfc_of(&cfdi.emisor.rfc),
        customer_rfc: rfc_of(&cfdi.receptor.rfc),
        customer_name: cfdi.receptor.nombre.as_ref().map(|s| s.to_string()),
        issued_at,
        due_at: None,
        total: Money::new(cfdi.total, cfdi.moneda),
        subtotal: Some(cfdi.subtotal),
        exchange_rate: cfdi.tipo_cambio,
        payment_method: match cfdi.metodo_pago.as_deref().map(str::trim) {
            Some("PUE") => Some(PaymentMethod::Pue),
            Some("PPD") => Some(PaymentMethod::Ppd),
            _ => None,
        },
        payment_form: cfdi.forma_pago.as_ref().map(|s| s.to_string()),
        replaces,
        erp_id: None,
        erp_residual: None,
        version: cfdi.version.as_str().to_string(),
    }
}

fn credit(cfdi: &Cfdi<'_>, uuid: CfdiUuid, issued_at: DateTime<Utc>) -> CreditRecord {
    let chosen = cfdi
        .relations
        .iter()
        .find(|r| CREDIT_RELATIONS.contains(&r.tipo.trim()))
        .or_else(|| cfdi.relations.first())
        .map(|r| r.tipo.trim().to_string());
    let applies_to = match &chosen {
        Some(t) => cfdi
            .relations
            .iter()
            .filter(|r| r.tipo.trim() == t)
            .flat_map(|r| r.uuids.iter().cloned())
            .collect(),
        None => Vec::new(),
    };
    CreditRecord {
        uuid,
        serie: cfdi.serie.as_ref().map(|s| s.to_string()),
        folio: cfdi.folio.as_ref().map(|s| s.to_string()),
        issuer_rfc: rfc_of(&cfdi.emisor.rfc),
        customer_rfc: rfc_of(&cfdi.receptor.rfc),
        issued_at,
        total: Money::new(cfdi.total, cfdi.moneda),
        exchange_rate: cfdi.tipo_cambio,
        relation_type: chosen,
        applies_to,
        version: cfdi.version.as_str().to_string(),
    }
}

fn payment(cfdi: &Cfdi<'_>, uuid: &CfdiUuid, index: usize, p: &Pago<'_>) -> PaymentRecord {
    let single = p.doctos.len() == 1;
    let remittance = p
        .doctos
        .iter()
        .filter_map(|d| remittance_line(d, p, single))
        .collect();
    let booked_on = p.fecha.date();
    PaymentRecord {
        kind: PaymentKind::Rep,
        external_id: format!("{uuid}#{index}"),
        own_account: p.cta_beneficiario.as_ref().map(|s| s.to_string()),
        booked_on,
        value_date: Some(booked_on),
        amount: Money::new(p.monto, p.moneda),
        bank_reference: None,
        clave_rastreo: None,
        payer_name: cfdi.receptor.nombre.as_ref().map(|s| s.to_string()),
        payer_rfc: Some(cfdi.receptor.rfc.trim().to_uppercase()).filter(|s| !s.is_empty()),
        payer_account: p.cta_ordenante.as_ref().map(|s| s.to_string()),
        referencia_numerica: None,
        concepto: None,
        document_id: Some(uuid.to_string()),
        operation_number: p.num_operacion.as_ref().map(|s| s.to_string()),
        remittance,
        customer_hint: None,
        status: None,
    }
}

/// What the import should tell a person about the payment lines of a company REP: each `DoctoRelacionado`
/// without `IdDocumento`, with one that is not a UUID and no `Folio`, or without `ImpPagado` where it is needed,
/// as (byte offset of the element, field, message). Lines that still name their invoice by serie/folio are kept (reconcile reads them); lines that
/// name nothing, or carry no amount, are not imported; the rest of the REP always is.
pub fn docto_warnings(cfdi: &Cfdi<'_>, company_rfcs: &[Rfc]) -> Vec<(u64, &'static str, String)> {
    if cfdi.tipo != Tipo::P || cfdi.uuid.is_none() || !is_company(&cfdi.emisor.rfc, company_rfcs) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (pi, p) in cfdi.pagos.iter().enumerate() {
        let single = p.doctos.len() == 1;
        for (di, d) in p.doctos.iter().enumerate() {
            let which = format!("Pago {} DoctoRelacionado {}", pi + 1, di + 1);
            let id = d.id_documento.as_deref().map(str::trim).unwrap_or("");
            let folio = d.folio.as_deref().map(str::trim).unwrap_or("");
            // A foreign document's id (`NNN-NN-NNNNNNNNN`) with its folio is as the schema allows: no warning.
            let foreign = !id.is_empty() && !folio.is_empty();
            if CfdiUuid::parse(id).is_err() && !foreign {
                let what = if id.is_empty() {
                    "has no IdDocumento".to_string()
                } else {
                    format!("has IdDocumento {id:?}, which is not a CFDI UUID")
                };
                let then = if folio.is_empty() {
                    "and no Folio: nothing names the invoice it pays, so this line was not imported (the rest \
                     of the REP was)"
                        .to_string()
                } else {
                    let serie = d.serie.as_deref().map(str::trim).unwrap_or("");
                    let sf = if serie.is_empty() {
                        folio.to_string()
                    } else {
                        format!("{serie}-{folio}")
                    };
                    format!("; its invoice is looked for by serie/folio {sf} only")
                };
                out.push((
                    d.offset,
                    "DoctoRelacionado@IdDocumento",
                    format!("{which} {what} {then}"),
                ));
            } else if d.imp_pagado.is_none() && !(single && d.moneda == p.moneda) {
                out.push((
                    d.offset,
                    "DoctoRelacionado@ImpPagado",
                    format!(
                        "{which} has no ImpPagado: what it pays of invoice {id} is unknown, so this line was not \
                         applied (the rest of the REP was)"
                    ),
                ));
            }
        }
    }
    out
}

/// One `DoctoRelacionado` → a remittance line. The invoice is named by UUID when `IdDocumento` is one, else by
/// serie/folio when there is a folio; a line with neither is dropped (nothing to match it against). A missing
/// `ImpPagado` (allowed by Pagos 1.0 for a single document in the payment's currency) is the Pago's `Monto`.
fn remittance_line(d: &DoctoRelacionado<'_>, p: &Pago<'_>, single: bool) -> Option<RemittanceLine> {
    let id = d.id_documento.as_deref().map(str::trim).unwrap_or("");
    let invoice = match CfdiUuid::parse(id) {
        Ok(u) => InvoiceRef::Uuid(u),
        Err(_) => {
            let folio = d.folio.as_ref()?.trim();
            if folio.is_empty() {
                return None;
            }
            InvoiceRef::SerieFolio {
                serie: d.serie.as_ref().map(|s| s.trim().to_string()),
                folio: folio.to_string(),
            }
        }
    };
    let paid = match d.imp_pagado {
        Some(x) => Some(x),
        None if single && d.moneda == p.moneda => Some(p.monto),
        None => None,
    };
    Some(RemittanceLine {
        invoice,
        amount: paid.map(|x| Money::new(x, d.moneda)),
        equivalence: d.equivalencia,
        installment: d.num_parcialidad,
        balance_before: d.imp_saldo_ant,
        balance_after: d.imp_saldo_insoluto,
    })
}
