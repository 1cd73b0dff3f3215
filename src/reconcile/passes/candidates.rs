//! The ranked candidates an exception shows a person: named invoices and the payer's first, closest amount first.

use crate::model::reconcile::PaymentIn;
use crate::reconcile::context::Ctx;
use crate::reconcile::payers::Payer;
use crate::reconcile::text::Fragment;
use cuadra_sdk::format_micros as money;
use std::collections::HashSet;

impl Ctx<'_> {
    /// The payer's open invoices in the payment's currency, including pairs a person removed (shown, ranked low).
    pub(in crate::reconcile) fn customer_invoices_for_review(
        &self,
        p: &PaymentIn,
        rfc: &str,
    ) -> Vec<usize> {
        self.by_customer
            .get(rfc)
            .map(|l| {
                l.iter()
                    .copied()
                    .filter(|&i| self.open[i] > 0 && self.inv[i].currency == p.currency)
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(in crate::reconcile) fn same_amount(&self, p: &PaymentIn) -> Vec<usize> {
        let Some(&cur) = self.currencies.get(p.currency.as_str()) else {
            return vec![];
        };
        self.by_amount
            .get(&(cur, p.amount))
            .into_iter()
            .filter(|&i| self.usable(p, i))
            .take(50)
            .collect()
    }

    /// Ranked candidates for an exception: named invoices and the payer's first, closest amount first.
    pub(in crate::reconcile) fn candidates(
        &self,
        p: &PaymentIn,
        payer: &Payer,
        frags: &[Fragment],
        pool: Vec<usize>,
    ) -> serde_json::Value {
        let named: HashSet<usize> = self.named_by(frags).into_iter().map(|(i, _)| i).collect();
        let payer_rfc = match payer {
            Payer::Known(w) => Some(w.rfc.as_str()),
            _ => None,
        };
        let mut seen = HashSet::new();
        let mut scored: Vec<(f64, usize, Vec<&'static str>)> = Vec::new();
        for i in pool.into_iter().chain(named.iter().copied()) {
            if !seen.insert(i) || self.open[i] <= 0 || self.inv[i].currency != p.currency {
                continue;
            }
            let mut s = 0.0;
            let mut why = Vec::new();
            if payer_rfc.is_some() && self.inv[i].customer_rfc.as_deref() == payer_rfc {
                s += 0.4;
                why.push("payer's invoice");
            }
            if named.contains(&i) {
                s += 0.3;
                why.push("named in concepto");
            }
            if self.open[i] == p.amount {
                s += 0.3;
                why.push("same amount");
            } else {
                let d = (self.open[i] - p.amount).abs() as f64 / p.amount.max(1) as f64;
                s += 0.2 * (1.0 - d.min(1.0));
            }
            if self.rejected.contains(&(p.id, self.inv[i].id)) {
                s -= 0.5;
                why.push("removed by a person");
            }
            scored.push((s, i, why));
        }
        scored.sort_by(|a, b| {
            b.0.total_cmp(&a.0)
                .then(self.inv[a.1].issued_on.cmp(&self.inv[b.1].issued_on))
                .then(self.inv[a.1].uuid.cmp(&self.inv[b.1].uuid))
        });
        serde_json::Value::Array(
            scored
                .into_iter()
                .take(5)
                .map(|(s, i, why)| {
                    let inv = &self.inv[i];
                    serde_json::json!({
                        "invoice_uuid": inv.uuid,
                        "serie": inv.serie,
                        "folio": inv.folio,
                        "customer_rfc": inv.customer_rfc,
                        "balance": money(self.open[i], &inv.currency),
                        "score": (s.clamp(0.0, 1.0) * 100.0).round() / 100.0,
                        "why": why.join(", "),
                    })
                })
                .collect(),
        )
    }
}
