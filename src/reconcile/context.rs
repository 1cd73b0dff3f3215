//! The allocation passes' shared state: the invoices in content order with their open balances and look-ups, the
//! customers' look-ups, and the helpers every pass uses (which invoices a text names, whether one is usable,
//! recording an allocation).

use super::index::{folio_hash, uuid_key, uuid_num, InvoiceSide, Map, MultiIndex};
use super::payers::Customers;
use super::text::{self, Fragment};
use crate::model::reconcile::{Input, InvoiceIn, NewAllocation, Options, PaidIn, PaymentIn};
use std::collections::HashSet;

/// How a text names a substitute by the folio of the invoice it replaces (one line of an explanation).
pub(super) const BY_REPLACED_FOLIO: &str =
    "the folio of the cancelled invoice it replaces (sustitución 04)";

/// Days after a payment in which an invoice may still be issued for it (invoices dated a little later).
pub(super) const ISSUE_SLACK_DAYS: i64 = 7;

/// What every allocation pass reads and changes: the invoices in content order and their open balances (lowered
/// as allocations are decided), their look-ups, and the customers' (read through `Deref`).
pub(super) struct Ctx<'a> {
    pub(super) inv: &'a [&'a InvoiceIn],
    pub(super) open: Vec<i64>,
    pub(super) by_uuid: MultiIndex<u128>,
    pub(super) by_uuid_prefix: MultiIndex<u32>,
    pub(super) by_uuid_suffix: MultiIndex<u32>,
    /// By a 64-bit hash of the folio key (look-ups check the folio itself).
    pub(super) by_folio: MultiIndex<u64>,
    pub(super) by_erp: Map<String, Vec<usize>>,
    pub(super) by_customer: Map<&'a str, Vec<usize>>,
    pub(super) by_amount: MultiIndex<(u16, i64)>,
    pub(super) currencies: Map<&'a str, u16>,
    /// Who is who (read through `Deref`).
    pub(super) cust: Customers,
    pub(super) rejected: &'a HashSet<(i64, i64)>,
    pub(super) opts: &'a Options,
    /// Per invoice (as `inv`), the first payment this run allocated to it (0: none).
    pub(super) first_payer: Vec<i64>,
    /// Invoices paid in full before this run, and their look-ups (built the first time a payment cites an
    /// invoice that is not open).
    pub(super) paid: &'a [PaidIn],
    pub(super) paid_index: std::cell::OnceCell<PaidIndex>,
}

/// The look-ups of the invoices paid before the run: folio (hashed) and UUID to indexes of `Ctx::paid`.
pub(super) struct PaidIndex {
    pub(super) by_folio: MultiIndex<u64>,
    pub(super) by_uuid: MultiIndex<u128>,
}

impl std::ops::Deref for Ctx<'_> {
    type Target = Customers;
    fn deref(&self) -> &Customers {
        &self.cust
    }
}

impl<'a> Ctx<'a> {
    pub(super) fn new(
        input: &'a Input,
        invoices: &'a [&'a InvoiceIn],
        side: InvoiceSide<'a>,
        cust: Customers,
        opts: &'a Options,
    ) -> Ctx<'a> {
        Ctx {
            inv: invoices,
            open: invoices.iter().map(|i| i.open).collect(),
            by_uuid: side.by_uuid,
            by_uuid_prefix: side.by_uuid_prefix,
            by_uuid_suffix: side.by_uuid_suffix,
            by_folio: side.by_folio,
            by_erp: side.by_erp,
            by_customer: side.by_customer,
            by_amount: side.by_amount,
            currencies: side.currencies,
            cust,
            rejected: &input.rejected,
            opts,
            first_payer: vec![0; invoices.len()],
            paid: &input.paid,
            paid_index: std::cell::OnceCell::new(),
        }
    }
}

impl<'a> Ctx<'a> {
    /// The look-ups of the invoices paid before the run (built on first use).
    pub(super) fn paid_index(&self) -> &PaidIndex {
        self.paid_index.get_or_init(|| {
            let (mut folios, mut uuids) = (Vec::new(), Vec::new());
            for (k, q) in self.paid.iter().enumerate() {
                if let Some(f) = &q.folio {
                    folios.push((folio_hash(&text::folio_key(f)), k as u32));
                }
                if let Some(u) = q.uuid.as_deref().and_then(uuid_num) {
                    uuids.push((u, k as u32));
                }
            }
            PaidIndex {
                by_folio: MultiIndex::new(folios),
                by_uuid: MultiIndex::new(uuids),
            }
        })
    }

    /// Invoices whose folio key is `number`, or that replace (04) an invoice whose folio key is `number`.
    pub(super) fn folio_matches(&self, number: &str) -> Vec<usize> {
        let mut v = self.by_folio.get(&folio_hash(number));
        v.retain(|&i| {
            let inv = self.inv[i];
            inv.folio
                .as_deref()
                .is_some_and(|f| text::folio_key(f) == number)
                || inv
                    .replaces
                    .iter()
                    .any(|(_, f)| text::folio_key(f) == number)
        });
        v.dedup();
        v
    }

    /// The serie keys under which invoice `idx` carries folio key `number`: its own (`false`), and those of the
    /// invoices it replaces (`true`).
    pub(super) fn folio_series(&self, idx: usize, number: &str) -> Vec<(String, bool)> {
        let i = self.inv[idx];
        let serie = |s: Option<&str>| s.map(text::serie_key).unwrap_or_default();
        let mut out = Vec::new();
        if i.folio
            .as_deref()
            .is_some_and(|f| text::folio_key(f) == number)
        {
            out.push((serie(i.serie.as_deref()), false));
        }
        for (s, f) in &i.replaces {
            if text::folio_key(f) == number {
                out.push((serie(s.as_deref()), true));
            }
        }
        out
    }

    pub(super) fn usable(&self, p: &PaymentIn, idx: usize) -> bool {
        self.open[idx] > 0
            && self.inv[idx].currency == p.currency
            && (self.rejected.is_empty() || !self.rejected.contains(&(p.id, self.inv[idx].id)))
    }

    /// Whether invoice `idx` is of the payer `rfc` or of a member of its group.
    pub(super) fn of_payer_or_group(&self, rfc: &str, idx: usize) -> bool {
        match self.inv[idx].customer_rfc.as_deref() {
            Some(r) => r == rfc || self.shared_group(rfc, r).is_some(),
            None => false,
        }
    }

    pub(super) fn issued_in_time(&self, p: &PaymentIn, idx: usize) -> bool {
        (self.inv[idx].issued_on - p.booked_on).num_days() <= ISSUE_SLACK_DAYS
    }

    pub(super) fn label(&self, idx: usize) -> String {
        let i = &self.inv[idx];
        match (&i.serie, &i.folio) {
            (Some(s), Some(f)) if !s.is_empty() => format!("{s}-{f}"),
            (_, Some(f)) => f.clone(),
            _ => i.uuid.clone().unwrap_or_else(|| format!("#{}", i.id)),
        }
    }

    /// Invoices a text names (serie/folio or UUID fragments).
    pub(super) fn named_by(&self, frags: &[Fragment]) -> Vec<(usize, &'static str)> {
        let mut out: Vec<(usize, &'static str)> = Vec::new();
        let add = |idx: usize, how: &'static str, out: &mut Vec<(usize, &'static str)>| {
            if !out.iter().any(|(i, _)| *i == idx) {
                out.push((idx, how));
            }
        };
        for f in frags {
            match f {
                Fragment::Uuid(hex) => {
                    if hex.len() == 32 {
                        if let Some(i) = uuid_num(hex).and_then(|k| self.by_uuid.first(&k)) {
                            add(i, "uuid", &mut out);
                        }
                        continue;
                    }
                    let head = u32::from_str_radix(&hex[..8], 16).ok();
                    for i in head
                        .map(|h| self.by_uuid_prefix.get(&h))
                        .unwrap_or_default()
                    {
                        if uuid_key(self.inv[i].uuid.as_deref().unwrap_or(""))
                            .starts_with(hex.as_str())
                        {
                            add(i, "uuid", &mut out);
                        }
                    }
                    let tail = u32::from_str_radix(&hex[hex.len() - 8..], 16).ok();
                    for i in tail
                        .map(|t| self.by_uuid_suffix.get(&t))
                        .unwrap_or_default()
                    {
                        if uuid_key(self.inv[i].uuid.as_deref().unwrap_or(""))
                            .ends_with(hex.as_str())
                        {
                            add(i, "uuid", &mut out);
                        }
                    }
                }
                Fragment::Folio { serie, number } => {
                    for i in self.folio_matches(number) {
                        for (inv_serie, replaced) in self.folio_series(i, number) {
                            let how = match (serie, replaced) {
                                (Some(s), _) if *s != inv_serie => continue,
                                (_, true) => BY_REPLACED_FOLIO,
                                (Some(_), false) => "serie_folio",
                                (None, false) => "folio",
                            };
                            add(i, how, &mut out);
                        }
                    }
                }
            }
        }
        out
    }

    pub(super) fn alloc(
        &mut self,
        p: &PaymentIn,
        idx: usize,
        amount: i64,
        method: &'static str,
        confidence: u8,
        explanation: String,
    ) -> NewAllocation {
        self.open[idx] -= amount;
        if self.first_payer[idx] == 0 {
            self.first_payer[idx] = p.id;
        }
        NewAllocation {
            payment_id: p.id,
            invoice_id: self.inv[idx].id,
            amount,
            currency: self.inv[idx].currency.clone(),
            method,
            confidence,
            explanation,
        }
    }
}
