//! Double payments (before any amount-only decision): a payment whose concepto cites an invoice that is already
//! paid, with the amount it was paid with, is a probable second payment of it — an exception `duplicate_payment`
//! naming the earlier payment, never moved to another invoice of the same amount.

use crate::model::reconcile::PaymentIn;
use crate::reconcile::context::Ctx;
use crate::reconcile::index::{folio_hash, uuid_num};
use crate::reconcile::payers::Payer;
use crate::reconcile::text::{self, Fragment};
use cuadra_sdk::format_micros as money;

impl Ctx<'_> {
    /// The `duplicate_payment` reason (and candidates) when the text cites an invoice paid in full — in this run
    /// or before it — by another payment of exactly this amount, of the payer's own invoices when the payer is
    /// known. `named`: what [`Ctx::named_by`] found among the invoices open when the run began.
    pub(in crate::reconcile) fn duplicate_of(
        &self,
        p: &PaymentIn,
        payer: &Payer,
        frags: &[Fragment],
        named: &[(usize, &'static str)],
    ) -> Option<(String, Vec<usize>)> {
        let payer_rfc = match payer {
            Payer::Known(w) => Some(w.rfc.as_str()),
            _ => None,
        };
        let payers_own = |rfc: Option<&str>| payer_rfc.is_none() || rfc == payer_rfc;
        let reason = |label: String, how: &str, by: i64| {
            format!(
                "duplicate_payment: the concepto names {label} (by {how}), already paid by payment {by} with the \
                 same amount {}; a second payment of it?",
                money(p.amount, &p.currency)
            )
        };
        // Paid in this run by an earlier payment.
        for &(i, how) in named {
            let inv = self.inv[i];
            let by = self.first_payer[i];
            if self.open[i] <= 0
                && by != 0
                && by != p.id
                && inv.currency == p.currency
                && inv.open == p.amount
                && payers_own(inv.customer_rfc.as_deref())
            {
                return Some((reason(self.label(i), how, by), vec![i]));
            }
        }
        // Paid before this run.
        if self.paid.is_empty() {
            return None;
        }
        let idx = self.paid_index();
        for f in frags {
            let (hits, how): (Vec<usize>, &str) = match f {
                Fragment::Folio { serie, number } => {
                    let hits = idx
                        .by_folio
                        .get(&folio_hash(number))
                        .into_iter()
                        .filter(|&k| {
                            let q = &self.paid[k];
                            q.folio.as_deref().map(text::folio_key).as_deref()
                                == Some(number.as_str())
                                && serie.as_ref().is_none_or(|s| {
                                    q.serie.as_deref().map(text::serie_key).as_ref() == Some(s)
                                })
                        })
                        .collect();
                    (
                        hits,
                        if serie.is_some() {
                            "serie_folio"
                        } else {
                            "folio"
                        },
                    )
                }
                Fragment::Uuid(hex) if hex.len() == 32 => (
                    uuid_num(hex)
                        .and_then(|k| idx.by_uuid.first(&k))
                        .into_iter()
                        .collect(),
                    "uuid",
                ),
                Fragment::Uuid(_) => continue,
            };
            for k in hits {
                let q = &self.paid[k];
                if q.currency == p.currency
                    && q.paid == p.amount
                    && q.paid_by != p.id
                    && payers_own(q.customer_rfc.as_deref())
                {
                    let label = match (&q.serie, &q.folio) {
                        (Some(s), Some(f)) if !s.is_empty() => format!("{s}-{f}"),
                        (_, Some(f)) => f.clone(),
                        _ => q.uuid.clone().unwrap_or_else(|| format!("#{}", q.id)),
                    };
                    return Some((reason(label, how, q.paid_by), vec![]));
                }
            }
        }
        None
    }
}
