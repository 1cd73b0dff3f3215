//! Pass 1: remittance lines naming invoices (provider/ERP metadata, REP lines by serie/folio) are authoritative.

use crate::model::reconcile::{NewAllocation, PaymentIn};
use crate::reconcile::context::Ctx;
use crate::reconcile::index::uuid_num;
use crate::reconcile::payers::Payer;
use crate::reconcile::text;
use cuadra_sdk::format_micros as money;
use cuadra_sdk::InvoiceRef;

impl Ctx<'_> {
    /// Pass 1: remittance lines naming invoices (provider/ERP metadata, REP lines by serie/folio).
    pub(in crate::reconcile) fn remittance(
        &mut self,
        p: &PaymentIn,
        payer: &Payer,
    ) -> Option<Result<Vec<NewAllocation>, String>> {
        let lines: Vec<_> = p
            .remittance
            .iter()
            .filter(|l| !(p.kind == "rep" && matches!(l.invoice, InvoiceRef::Uuid(_))))
            .collect();
        if lines.is_empty() {
            return None;
        }
        let payer_rfc = match payer {
            Payer::Known(w) => Some(w.rfc.clone()),
            _ => p.payer_rfc.clone(),
        };
        let mut resolved: Vec<(usize, Option<i64>, String)> = Vec::new();
        for l in &lines {
            let (found, named): (Vec<usize>, String) = match &l.invoice {
                InvoiceRef::Uuid(u) => (
                    uuid_num(u.as_str())
                        .and_then(|k| self.by_uuid.first(&k))
                        .into_iter()
                        .collect(),
                    format!("UUID {}", u.as_str()),
                ),
                InvoiceRef::SerieFolio { serie, folio } => {
                    let sk = serie.as_deref().map(text::serie_key).unwrap_or_default();
                    let mut v: Vec<usize> = self
                        .folio_matches(&text::folio_key(folio))
                        .into_iter()
                        .filter(|&i| {
                            self.inv[i]
                                .serie
                                .as_deref()
                                .map(text::serie_key)
                                .unwrap_or_default()
                                == sk
                        })
                        .collect();
                    if v.len() > 1 {
                        if let Some(r) = &payer_rfc {
                            v.retain(|&i| self.inv[i].customer_rfc.as_deref() == Some(r.as_str()));
                        }
                    }
                    (
                        v,
                        format!(
                            "serie/folio {}{}",
                            serie
                                .as_deref()
                                .map(|s| format!("{s}-"))
                                .unwrap_or_default(),
                            folio
                        ),
                    )
                }
                InvoiceRef::ErpId(e) => {
                    let mut v = self.by_erp.get(e.trim()).cloned().unwrap_or_default();
                    if v.len() > 1 {
                        if let Some(r) = &payer_rfc {
                            v.retain(|&i| self.inv[i].customer_rfc.as_deref() == Some(r.as_str()));
                        }
                    }
                    (v, format!("ERP id {e}"))
                }
            };
            if found.len() != 1 {
                return Some(Err(format!(
                    "remittance names {named}, which {}",
                    if found.is_empty() {
                        "is not an open invoice in the ledger"
                    } else {
                        "fits several invoices"
                    }
                )));
            }
            let idx = found[0];
            if self.inv[idx].currency != p.currency && l.amount.is_none() {
                return Some(Err(format!(
                    "remittance names {named}, an invoice in {}",
                    self.inv[idx].currency
                )));
            }
            if let Some(m) = &l.amount {
                if m.currency().as_str() != self.inv[idx].currency {
                    return Some(Err(format!(
                        "remittance pays {named} in another currency than the invoice"
                    )));
                }
            }
            if self.rejected.contains(&(p.id, self.inv[idx].id)) {
                return Some(Err(format!(
                    "remittance names {named}, a pair a person removed"
                )));
            }
            let amount = l
                .amount
                .as_ref()
                .and_then(|m| cuadra_sdk::to_micros(m.amount()).ok());
            resolved.push((idx, amount, named));
        }
        let mut out = Vec::new();
        let mut left = p.amount;
        let all_have_amounts = resolved.iter().all(|r| r.1.is_some());
        if !all_have_amounts && resolved.len() > 1 {
            let sum: i64 = resolved.iter().map(|r| self.open[r.0].max(0)).sum();
            if sum != p.amount {
                return Some(Err(format!(
                    "remittance names {} invoices without amounts whose balances do not add up to the payment",
                    resolved.len()
                )));
            }
        }
        for (idx, amount, named) in resolved {
            let open = self.open[idx];
            let amt = match amount {
                Some(a) => a,
                None => open.min(left),
            };
            if amt <= 0 || amt > open {
                return Some(Err(format!(
                    "remittance pays {} on {named}, whose balance is {}",
                    money(amt, &self.inv[idx].currency),
                    money(open, &self.inv[idx].currency)
                )));
            }
            if self.inv[idx].currency == p.currency {
                if amt > left {
                    return Some(Err(
                        "remittance lines add up to more than the payment".into()
                    ));
                }
                left -= amt;
            }
            let label = self.label(idx);
            out.push(self.alloc(
                p,
                idx,
                amt,
                "remittance",
                99,
                format!(
                    "{} {} names {named} ({label}) and pays {}",
                    p.kind,
                    p.external_id,
                    money(amt, &p.currency)
                ),
            ));
        }
        Some(Ok(out))
    }
}
