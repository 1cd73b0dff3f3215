//! Pass 4b: with the payer known, the amount decides: one invoice of that balance, a bank fee within the tolerance,
//! an exact combination, a partial payment the text names, or a prepayment (the customer's only invoice of that
//! balance, issued later within `reconcile.prepayment_days`); anything else is an exception with its reason.

use super::combinations::{subset, Subset};
use crate::model::reconcile::{NewAllocation, PaymentIn};
use crate::reconcile::context::Ctx;
use crate::reconcile::payers::Payer;
use crate::reconcile::text::{self, Fragment};
use cuadra_sdk::{format_micros as money, normalize_account};

impl Ctx<'_> {
    /// Pass 4b: with the payer known, the amount (one invoice, a combination, a partial payment with a reference).
    pub(in crate::reconcile) fn by_amount(
        &mut self,
        p: &PaymentIn,
        payer: &Payer,
        frags: &[Fragment],
    ) -> Result<Vec<NewAllocation>, (String, Vec<usize>)> {
        if let Some(acct) = p.payer_account.as_deref().map(normalize_account) {
            if self.opts.own_accounts.contains(&acct) {
                return Err((
                    "own_transfer: from one of the company's own accounts".into(),
                    vec![],
                ));
            }
        }
        let cited = self.named_by(frags);
        let named: Vec<usize> = cited
            .iter()
            .map(|&(i, _)| i)
            .filter(|i| self.usable(p, *i))
            .collect();
        // A second payment of an invoice already paid is not moved to another one of the same amount.
        if named.is_empty() && !frags.is_empty() {
            if let Some(dup) = self.duplicate_of(p, payer, frags, &cited) {
                return Err(dup);
            }
        }
        let who = match payer {
            Payer::Known(w) => w.clone(),
            Payer::Conflict(why) => {
                let mut cands = named.clone();
                cands.extend(self.same_amount(p));
                return Err((format!("conflicting_payer: {why}"), cands));
            }
            Payer::Unknown => {
                let mut cands = named.clone();
                cands.extend(self.same_amount(p));
                let c = p.concepto.as_deref().unwrap_or("").to_uppercase();
                let reason = if c.contains("INTERES") {
                    "not_receivable: looks like bank interest".to_string()
                } else if named.is_empty() {
                    "unknown_payer: no account, reference, RFC or name identifies the customer"
                        .to_string()
                } else {
                    "unknown_payer: the concepto names an invoice but the amount does not confirm it".to_string()
                };
                return Err((reason, cands));
            }
        };
        // A payer named by evidence of two members of its group may pay an invoice of any of them.
        let payers: Vec<&str> = match (who.how, self.group_of.get(&who.rfc)) {
            ("group", Some(g)) => self
                .members
                .get(g)
                .map(|m| m.iter().map(String::as_str).collect())
                .unwrap_or_else(|| vec![who.rfc.as_str()]),
            _ => vec![who.rfc.as_str()],
        };
        let all: Vec<usize> = payers
            .iter()
            .filter_map(|r| self.by_customer.get(r))
            .flat_map(|l| l.iter().copied().filter(|&i| self.usable(p, i)))
            .collect();
        // Content order, whichever member's list an invoice came from.
        let mut all = all;
        all.sort_unstable();
        let cust = match payers.as_slice() {
            [_, _, ..] => format!(
                "group {}",
                self.group_of.get(&who.rfc).map_or("", String::as_str)
            ),
            _ => self.name_of(&who.rfc),
        };
        if all.is_empty() {
            let mut named = named;
            named.extend(self.customer_invoices_for_review(p, &who.rfc));
            return Err((
                format!("no_open_invoice: payer identified as {cust} ({}) by {}, who has no open invoice in {}", who.rfc, who.how, p.currency),
                named,
            ));
        }
        let in_time: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&i| self.issued_in_time(p, i))
            .collect();
        let named_mine: Vec<usize> = named
            .iter()
            .copied()
            .filter(|i| self.inv[*i].customer_rfc.as_deref() == Some(who.rfc.as_str()))
            .collect();
        let exact: Vec<usize> = in_time
            .iter()
            .copied()
            .filter(|&i| self.open[i] == p.amount)
            .collect();
        let cur = p.currency.clone();
        let base = format!("payer identified by {}", who.detail);
        // A partial payment needs a reference naming exactly one of the customer's invoices, above the amount.
        let partial = match named_mine.as_slice() {
            [one] if self.open[*one] > p.amount => Some(*one),
            _ => None,
        };
        if exact.len() == 1 {
            let idx = exact[0];
            if let Some(named) = partial {
                let mut c = vec![idx];
                c.extend(named_mine.iter().copied());
                return Err((
                    format!("ambiguous: the concepto names {} (a partial payment?) but the amount equals the balance of {}", self.label(named), self.label(idx)),
                    c,
                ));
            }
            let label = self.label(idx);
            let cited: Vec<&str> = frags
                .iter()
                .filter_map(|f| match f {
                    Fragment::Folio { number, .. } => Some(number.as_str()),
                    _ => None,
                })
                .collect();
            let own_folio = self.inv[idx]
                .folio
                .as_deref()
                .map(text::folio_key)
                .unwrap_or_default();
            let (method, conf, note) = if cited.iter().any(|n| text::folio_typo(n, &own_folio)) {
                (
                    "amount",
                    who.confidence.saturating_sub(4),
                    "; the concepto's folio looks like a typo of it".to_string(),
                )
            } else if named.is_empty() || named.contains(&idx) {
                ("amount", who.confidence.saturating_sub(2), String::new())
            } else {
                (
                    "amount",
                    who.confidence.saturating_sub(12),
                    "; the invoice the concepto names does not fit the amount and was not trusted"
                        .to_string(),
                )
            };
            let expl = format!(
                "{base}; amount {} is the balance of {label}, the only such open invoice of {cust}{note}",
                money(p.amount, &cur)
            );
            return Ok(vec![self.alloc(p, idx, p.amount, method, conf, expl)]);
        }
        if exact.len() > 1 {
            let mut c = exact.clone();
            c.extend(named_mine);
            return Err((
                format!(
                    "ambiguous_amount: {} open invoices of {cust} have the balance {}",
                    exact.len(),
                    money(p.amount, &cur)
                ),
                c,
            ));
        }
        if let Some(idx) = partial {
            let label = self.label(idx);
            let expl = format!(
                "{base}; concepto names {label}; {} is a partial payment of its balance {}",
                money(p.amount, &cur),
                money(self.open[idx], &cur)
            );
            let conf = who.confidence.saturating_sub(12);
            return Ok(vec![self.alloc(p, idx, p.amount, "partial", conf, expl)]);
        }
        // A bank fee short of exactly one invoice.
        if self.opts.tolerance > 0 {
            let near: Vec<usize> = in_time
                .iter()
                .copied()
                .filter(|&i| {
                    self.open[i] > p.amount && self.open[i] - p.amount <= self.opts.tolerance
                })
                .collect();
            if near.len() == 1 {
                let idx = near[0];
                let diff = self.open[idx] - p.amount;
                let label = self.label(idx);
                let expl = format!(
                    "{base}; amount {} is {} short of the balance of {label}, within the tolerance {}",
                    money(p.amount, &cur),
                    money(diff, &cur),
                    money(self.opts.tolerance, &cur)
                );
                let conf = who.confidence.saturating_sub(6);
                let a = self.alloc(p, idx, p.amount, "amount", conf, expl);
                let t = self.alloc(
                    p,
                    idx,
                    diff,
                    "tolerance",
                    conf,
                    format!(
                        "difference of {} on {label} tolerated as a bank fee (tolerance {})",
                        money(diff, &cur),
                        money(self.opts.tolerance, &cur)
                    ),
                );
                return Ok(vec![a, t]);
            }
        }
        // An exact combination of the customer's open invoices.
        let pool: Vec<usize> = in_time
            .iter()
            .copied()
            .filter(|&i| self.open[i] < p.amount)
            .collect();
        match subset(&pool.iter().map(|&i| self.open[i]).collect::<Vec<_>>(), p.amount) {
            Subset::Unique(sel) => {
                let chosen: Vec<usize> = sel.iter().map(|&k| pool[k]).collect();
                let labels: Vec<String> = chosen.iter().map(|&i| self.label(i)).collect();
                let expl = format!(
                    "{base}; amount {} is exactly the sum of the balances of {} (the only combination among {} open invoices of {cust})",
                    money(p.amount, &cur),
                    labels.join(", "),
                    pool.len()
                );
                let conf = who.confidence.saturating_sub(7);
                let mut out = Vec::new();
                for i in chosen {
                    let amt = self.open[i];
                    out.push(self.alloc(p, i, amt, "combination", conf, expl.clone()));
                }
                Ok(out)
            }
            Subset::Several => Err((
                format!("ambiguous_combination: several combinations of {cust}'s open invoices add up to {}", money(p.amount, &cur)),
                all,
            )),
            Subset::None | Subset::TooLarge => {
                // A prepayment: the customer's only invoice of this balance, issued after the payment within
                // the window, and not contradicted by the concepto.
                let later: Vec<usize> = all
                    .iter()
                    .copied()
                    .filter(|&i| self.open[i] == p.amount)
                    .collect();
                if let [idx] = later[..] {
                    let days = (self.inv[idx].issued_on - p.booked_on).num_days();
                    if days <= self.opts.prepayment_days && (named.is_empty() || named.contains(&idx)) {
                        let expl = format!(
                            "{base}; amount {} is the balance of {}, the only such open invoice of {cust}, issued {days} days after the payment (a prepayment; window {} days)",
                            money(p.amount, &cur),
                            self.label(idx),
                            self.opts.prepayment_days
                        );
                        let conf = who.confidence.saturating_sub(10);
                        return Ok(vec![self.alloc(p, idx, p.amount, "prepayment", conf, expl)]);
                    }
                }
                let total: i64 = all.iter().map(|&i| self.open[i]).sum();
                let reason = if p.amount > total {
                    format!("overpayment: {} exceeds everything {cust} owes in {cur} ({})", money(p.amount, &cur), money(total, &cur))
                } else {
                    format!("no_amount_match: payer identified as {cust} by {}, but no open invoice or combination is {}", who.how, money(p.amount, &cur))
                };
                let mut c = named_mine;
                c.extend(self.customer_invoices_for_review(p, &who.rfc));
                Err((reason, c))
            }
        }
    }
}
