//! Pass 4a: invoices the concepto or referencia names, taken when the amount confirms them.

use crate::model::reconcile::{NewAllocation, PaymentIn};
use crate::reconcile::context::Ctx;
use crate::reconcile::payers::Payer;
use crate::reconcile::payers::Who;
use crate::reconcile::text::Fragment;
use cuadra_sdk::format_micros as money;

impl Ctx<'_> {
    /// Pass 4a: references in the text that the amount confirms.
    pub(in crate::reconcile) fn by_reference(
        &mut self,
        p: &PaymentIn,
        payer: &Payer,
        frags: &[Fragment],
    ) -> Option<Vec<NewAllocation>> {
        if frags.is_empty() {
            return None;
        }
        let named: Vec<(usize, &'static str)> = self
            .named_by(frags)
            .into_iter()
            .filter(|(i, _)| self.usable(p, *i))
            .collect();
        if named.is_empty() {
            return None;
        }
        let (mine, who): (Vec<(usize, &'static str)>, Option<&Who>) = match payer {
            Payer::Known(w) => {
                let m: Vec<_> = named
                    .iter()
                    .copied()
                    .filter(|(i, _)| self.of_payer_or_group(&w.rfc, *i))
                    .collect();
                if m.is_empty() {
                    (named.clone(), None)
                } else {
                    (m, Some(w))
                }
            }
            _ => (named.clone(), None),
        };
        // One named invoice whose balance is the amount.
        let exact: Vec<(usize, &'static str)> = mine
            .iter()
            .copied()
            .filter(|(i, _)| self.open[*i] == p.amount)
            .collect();
        let payer_text = who
            .map(|w| format!("payer identified by {}; ", w.detail))
            .unwrap_or_else(|| "payer not identified; ".into());
        let conf_base: u8 = if who.is_some() { 98 } else { 92 };
        // Invoices of a sister company the payer paid too: said, and a little less sure.
        let sisters: Vec<String> = match who {
            Some(w) => mine
                .iter()
                .filter_map(|(i, _)| self.inv[*i].customer_rfc.as_deref())
                .filter(|r| *r != w.rfc)
                .map(str::to_string)
                .collect(),
            None => vec![],
        };
        let (payer_text, conf_base) = match (who, sisters.first()) {
            (Some(w), Some(s)) => (
                format!(
                    "{payer_text}{s} is of the same group {}; ",
                    self.group_of.get(&w.rfc).map_or("", String::as_str)
                ),
                conf_base - 3,
            ),
            _ => (payer_text, conf_base),
        };
        if exact.len() == 1 {
            let (idx, how) = exact[0];
            let label = self.label(idx);
            let expl = format!(
                "{payer_text}concepto names {label} by {how} and the amount {} is its balance",
                money(p.amount, &p.currency)
            );
            return Some(vec![self.alloc(
                p,
                idx,
                p.amount,
                "reference",
                conf_base,
                expl,
            )]);
        }
        if exact.len() > 1 {
            return None;
        }
        // Several named invoices that together are the amount.
        if mine.len() > 1 && mine.len() <= 20 {
            let sum: i64 = mine.iter().map(|(i, _)| self.open[*i]).sum();
            if sum == p.amount {
                let labels: Vec<String> = mine.iter().map(|(i, _)| self.label(*i)).collect();
                let mut out = Vec::new();
                for (idx, how) in mine.clone() {
                    let amt = self.open[idx];
                    let expl = format!(
                        "{payer_text}concepto names {} (by {how}); their balances add up to the amount {}",
                        labels.join(", "),
                        money(p.amount, &p.currency)
                    );
                    out.push(self.alloc(p, idx, amt, "reference", conf_base - 1, expl));
                }
                return Some(out);
            }
        }
        // A bank fee short of one named invoice.
        if self.opts.tolerance > 0 && mine.len() == 1 {
            let (idx, how) = mine[0];
            let diff = self.open[idx] - p.amount;
            if diff > 0 && diff <= self.opts.tolerance {
                let label = self.label(idx);
                let cur = p.currency.clone();
                let expl = format!(
                    "{payer_text}concepto names {label} by {how}; amount {} is {} short of its balance, within the tolerance {}",
                    money(p.amount, &cur),
                    money(diff, &cur),
                    money(self.opts.tolerance, &cur)
                );
                let a = self.alloc(p, idx, p.amount, "reference", conf_base - 3, expl);
                let t = self.alloc(
                    p,
                    idx,
                    diff,
                    "tolerance",
                    conf_base - 3,
                    format!(
                        "difference of {} on {label} tolerated as a bank fee (tolerance {})",
                        money(diff, &cur),
                        money(self.opts.tolerance, &cur)
                    ),
                );
                return Some(vec![a, t]);
            }
        }
        None
    }
}
