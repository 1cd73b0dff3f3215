//! Pass 3, who paid: the customers' side of the look-ups (RFCs, accounts, references, ERP ids, learned aliases and
//! names) and the identification of each payment's payer, which reads nothing else.

use super::evidence;
use super::index::{Map, Set};
use super::names::{NameIndex, NameMemo};
use super::text;
use crate::model::reconcile::{AliasIn, CustomerIn, InvoiceIn, PaymentIn, GENERIC_RFCS};
use cuadra_sdk::normalize_account;

#[derive(Debug, Clone)]
pub(super) struct Who {
    pub(super) rfc: String,
    pub(super) how: &'static str,
    pub(super) confidence: u8,
    pub(super) detail: String,
}

#[derive(Debug, Clone)]
pub(super) enum Payer {
    Known(Who),
    Conflict(String),
    Unknown,
}

/// The customers' side of the look-ups (RFCs, names exact and blocked for the tolerant comparison, references, ERP
/// ids, learned aliases) and pass 3, who paid, which reads nothing else. Built from the master apart from the
/// invoices (the run builds it while the store still reads invoices and payments: [`Customers::from_master`]), then
/// completed with what the invoices say of their receptors.
pub struct Customers {
    pub(super) rfc_of_customer: Map<i64, String>,
    pub(super) customer_of_rfc: Map<String, i64>,
    pub(super) display_name: Map<String, String>,
    pub(super) accounts: Map<String, Vec<String>>,
    pub(super) references: Map<String, Vec<String>>,
    pub(super) name_aliases: Map<String, Vec<String>>,
    pub(super) erp_customers: Map<String, Vec<String>>,
    /// Every name, exact and blocked for the tolerant comparison.
    pub(super) by_name: NameIndex,
    pub(super) known_rfcs: Set<String>,
    /// The legal forms each RFC's names end with (`evidence::legal_form`), to tell apart customers whose names
    /// differ only in them.
    pub(super) forms: Map<String, Vec<String>>,
    /// Corporate groups (customer file column `group`, an alias of kind `group`): each RFC's group, each group's
    /// RFCs.
    pub(super) group_of: Map<String, String>,
    pub(super) members: Map<String, Vec<String>>,
    /// Whether the invoices' receptors were added (`add_invoices`).
    pub(super) with_invoices: bool,
    /// Payers identified from the master alone ([`Customers::identify_early`]).
    pub(super) early: EarlyPayers,
}

pub(super) fn push_unique(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_string());
    }
}

/// What the invoices' receptors added to the master's look-ups: name keys, their words, RFCs.
#[derive(Default)]
pub(super) struct InvoiceChanges {
    pub(super) keys: Set<String>,
    pub(super) words: Set<String>,
    pub(super) rfcs: Set<String>,
}

impl InvoiceChanges {
    /// Whether a payer identified from the master alone (`by_name`: the key its name was looked up by, if it came
    /// to that) could be identified otherwise now: its RFC or hint became known, or its name key, or one of its
    /// words (whose block the tolerant comparison reads), is among those added. Nothing else it read changed.
    pub(super) fn affect(&self, p: &PaymentIn, by_name: Option<&str>) -> bool {
        if !self.rfcs.is_empty() {
            let known = |r: &str| self.rfcs.contains(&r.trim().to_uppercase());
            if p.payer_rfc.as_deref().is_some_and(known)
                || p.customer_hint.as_deref().is_some_and(known)
            {
                return true;
            }
        }
        match by_name {
            Some(key) if !self.keys.is_empty() => {
                self.keys.contains(key) || text::block_tokens(key).any(|t| self.words.contains(t))
            }
            _ => false,
        }
    }
}

/// Payers identified from the master alone while the invoices were still being read (see
/// [`Customers::identify_early`]): the payer and the name key it was looked up by, if it came to that.
pub(super) type EarlyPayers = Map<i64, (Payer, Option<String>)>;

impl Customers {
    /// Identifies the payers of `payments` from the master alone (before [`Customers::add_invoices`]), on
    /// `threads` cores, until `stop` is set; `decide_early` keeps what the invoices' receptors cannot change
    /// (almost everything: most invoices name their receptors as the master does) and identifies the rest.
    pub fn identify_early(
        &mut self,
        payments: &[PaymentIn],
        threads: usize,
        stop: &std::sync::atomic::AtomicBool,
    ) {
        let payments: Vec<&PaymentIn> = payments.iter().filter(|p| p.amount > 0).collect();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let this = &*self;
        let found: Vec<_> = std::thread::scope(|sc| {
            let workers: Vec<_> = (0..threads.max(1))
                .map(|_| sc.spawn(|| this.identify_shared(&payments, &next, stop)))
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("identifying payers panicked"))
                .collect()
        });
        self.early = found.into_iter().flatten().collect();
        tracing::debug!(
            payers = self.early.len(),
            "payers identified from the master"
        );
    }

    /// The look-ups of the customer master and its learned aliases; [`Customers::add_invoices`] completes them.
    pub fn from_master(customers: &[CustomerIn], aliases: &[AliasIn]) -> Customers {
        let mut c = Customers {
            rfc_of_customer: Map::default(),
            customer_of_rfc: Map::default(),
            display_name: Map::default(),
            accounts: Map::default(),
            references: Map::default(),
            name_aliases: Map::default(),
            erp_customers: Map::default(),
            by_name: NameIndex::default(),
            known_rfcs: Set::default(),
            forms: Map::default(),
            group_of: Map::default(),
            members: Map::default(),
            with_invoices: false,
            early: Map::default(),
        };
        c.add_master(customers, aliases);
        c
    }

    /// What the invoices say of their receptors: the names they were invoiced under (after the master's), and
    /// their RFCs as known ones. Once only.
    pub(super) fn add_invoices(
        &mut self,
        invoice_names: &[(String, String)],
        invoices: &[InvoiceIn],
    ) -> InvoiceChanges {
        let mut changes = InvoiceChanges::default();
        if std::mem::replace(&mut self.with_invoices, true) {
            return changes;
        }
        for (rfc, name) in invoice_names {
            if GENERIC_RFCS.contains(&rfc.as_str()) {
                continue;
            }
            match self.display_name.get(rfc) {
                // Invoiced under a name of the master, already added for this RFC.
                Some(known) if known == name => continue,
                Some(_) => {}
                None => {
                    self.display_name.insert(rfc.clone(), name.clone());
                }
            }
            let new_form = self.add_form(rfc, name);
            if let Some(key) = self.by_name.add_name(rfc, name) {
                changes
                    .words
                    .extend(text::block_tokens(&key).map(str::to_string));
                changes.keys.insert(key);
            } else if new_form {
                // A legal form new to this RFC may tell its name apart from another customer's.
                changes.keys.insert(text::name_key(name));
            }
        }
        let mut last: Option<&str> = None;
        for r in invoices.iter().filter_map(|i| i.customer_rfc.as_deref()) {
            // Invoices come in runs of one receptor more often than not: the set is asked when it changes.
            if last == Some(r) {
                continue;
            }
            last = Some(r);
            if !GENERIC_RFCS.contains(&r) && !self.known_rfcs.contains(r) {
                self.known_rfcs.insert(r.to_string());
                changes.rfcs.insert(r.to_string());
            }
        }
        tracing::debug!(
            names = changes.keys.len(),
            rfcs = changes.rfcs.len(),
            "the invoices' receptors added to the customers' look-ups"
        );
        changes
    }

    /// The master's side: RFCs, names (exact and blocked for the tolerant comparison), references, ERP ids,
    /// learned aliases. (Aliases touch none of what the invoices' names add, so the order of the two is free.)
    pub(super) fn add_master(&mut self, customers: &[CustomerIn], aliases: &[AliasIn]) {
        let c = self;
        for cu in customers {
            let Some(rfc) = cu
                .rfc
                .as_ref()
                .filter(|r| !GENERIC_RFCS.contains(&r.as_str()))
            else {
                continue;
            };
            c.rfc_of_customer.insert(cu.id, rfc.clone());
            c.customer_of_rfc.insert(rfc.clone(), cu.id);
            c.display_name.insert(rfc.clone(), cu.name.clone());
            c.known_rfcs.insert(rfc.clone());
            if let Some(r) = &cu.payment_reference {
                let k = text::id_key(r);
                if !k.is_empty() {
                    push_unique(c.references.entry(k).or_default(), rfc);
                }
            }
            if let Some(e) = &cu.erp_id {
                push_unique(
                    c.erp_customers.entry(e.trim().to_string()).or_default(),
                    rfc,
                );
            }
            let _ = c.by_name.add_name(rfc, &cu.name);
            c.add_form(rfc, &cu.name);
        }
        for a in aliases {
            let Some(rfc) = c.rfc_of_customer.get(&a.customer_id).cloned() else {
                continue;
            };
            match a.kind.as_str() {
                "account" => push_unique(
                    c.accounts.entry(normalize_account(&a.value)).or_default(),
                    &rfc,
                ),
                "reference" => {
                    let k = text::id_key(&a.value);
                    if !k.is_empty() {
                        push_unique(c.references.entry(k).or_default(), &rfc);
                    }
                }
                "name" => {
                    let k = text::name_key(&a.value);
                    if !k.is_empty() {
                        push_unique(c.name_aliases.entry(k).or_default(), &rfc);
                    }
                }
                "group" => {
                    let g = a.value.trim().to_uppercase();
                    // One group per customer: the first alias (in content order) stands.
                    if !g.is_empty() && !c.group_of.contains_key(&rfc) {
                        push_unique(c.members.entry(g.clone()).or_default(), &rfc);
                        c.group_of.insert(rfc, g);
                    }
                }
                _ => {}
            }
        }
    }

    /// Notes the legal form `name` ends with as one of `rfc`'s; whether it was new.
    fn add_form(&mut self, rfc: &str, name: &str) -> bool {
        let form = evidence::legal_form(name);
        if form.is_empty() {
            return false;
        }
        let list = self.forms.entry(rfc.to_string()).or_default();
        if list.contains(&form) {
            return false;
        }
        list.push(form);
        true
    }

    /// Of the customers a payer name fits (`rfcs`, same name key), the one its legal form names: when exactly
    /// one has a form the payer's fits and every other has a form it does not fit.
    fn by_legal_form<'r>(&self, name: &str, rfcs: &'r [String]) -> Option<(&'r str, String)> {
        let form = evidence::legal_form(name);
        if form.is_empty() {
            return None;
        }
        let mut fitting = None;
        for rfc in rfcs {
            let forms = self.forms.get(rfc)?;
            if forms.iter().any(|f| evidence::form_fits(&form, f)) {
                if fitting.is_some() {
                    return None;
                }
                fitting = Some(rfc.as_str());
            }
        }
        fitting.map(|r| (r, form))
    }

    /// The group two customers share, if they are different members of one.
    pub(super) fn shared_group(&self, a: &str, b: &str) -> Option<&str> {
        let g = self.group_of.get(a)?;
        (a != b && self.group_of.get(b) == Some(g)).then_some(g.as_str())
    }

    pub(super) fn name_of(&self, rfc: &str) -> String {
        self.display_name
            .get(rfc)
            .cloned()
            .unwrap_or_else(|| rfc.to_string())
    }

    /// Pass 3: who paid.
    /// `memo` keeps the tolerant comparison's outcome per name key (RFC and score when accepted): the same payer
    /// names (the company itself, a bank, a factoring company) come back on many credits.
    /// One identifying worker: takes slices of `payments` from the shared counter `next` until none is left (or
    /// `stop` is set), and returns each payer with the name key it was looked up by. Work is handed out in small
    /// slices: payers that need the tolerant name comparison cluster (by date, by kind), so fixed shares would
    /// leave a core idle.
    pub(super) fn identify_shared(
        &self,
        payments: &[&PaymentIn],
        next: &std::sync::atomic::AtomicUsize,
        stop: &std::sync::atomic::AtomicBool,
    ) -> Vec<(i64, (Payer, Option<String>))> {
        use std::sync::atomic::Ordering::Relaxed;
        pub(super) const SLICE: usize = 256;
        let mut memo = NameMemo::default();
        let mut found = Vec::new();
        while !stop.load(Relaxed) {
            let from = next.fetch_add(SLICE, Relaxed);
            if from >= payments.len() {
                break;
            }
            for p in &payments[from..(from + SLICE).min(payments.len())] {
                let mut by_name = None;
                let payer = self.identify_noting(p, &mut memo, &mut by_name);
                found.push((p.id, (payer, by_name)));
            }
        }
        found
    }

    /// Pass 3 for one payment, noting in `by_name` the payer name's key when the names decided (nothing
    /// stronger did, and the key is long enough to compare).
    pub(super) fn identify_noting(
        &self,
        p: &PaymentIn,
        memo: &mut NameMemo,
        by_name: &mut Option<String>,
    ) -> Payer {
        let mut strong: Vec<Who> = Vec::new();
        if let Some(acct) = p.payer_account.as_deref().map(normalize_account) {
            if let Some(list) = self.accounts.get(&acct) {
                if list.len() == 1 {
                    strong.push(Who {
                        rfc: list[0].clone(),
                        how: "account",
                        confidence: 97,
                        detail: format!("account {acct} is {}'s", list[0]),
                    });
                }
            }
        }
        // The referencia numérica: the payment's field, then any the concepto states after a keyword.
        let mut refs: Vec<(String, &str)> = Vec::new();
        if let Some(r) = p
            .referencia
            .as_deref()
            .map(text::id_key)
            .filter(|r| !r.is_empty())
        {
            refs.push((r, ""));
        }
        if !self.references.is_empty() {
            for r in evidence::referencias_in(p.concepto.as_deref().unwrap_or("")) {
                if !refs.iter().any(|(x, _)| *x == r) {
                    refs.push((r, " in the concepto"));
                }
            }
        }
        for (r, place) in refs {
            if let Some(list) = self.references.get(&r) {
                if list.len() == 1 {
                    strong.push(Who {
                        rfc: list[0].clone(),
                        how: "reference",
                        confidence: if place.is_empty() { 96 } else { 95 },
                        detail: format!("referencia {r}{place} is {}'s", list[0]),
                    });
                }
            }
        }
        if let Some(rfc) = p
            .payer_rfc
            .as_deref()
            .map(|r| r.trim().to_uppercase())
            .filter(|r| (12..=13).contains(&r.len()) && !GENERIC_RFCS.contains(&r.as_str()))
        {
            if self.known_rfcs.contains(&rfc) {
                strong.push(Who {
                    detail: format!("payer RFC {rfc}"),
                    rfc,
                    how: "rfc",
                    confidence: 96,
                });
            }
        }
        if let Some(h) = p.customer_hint.as_deref().map(str::trim) {
            if let Some(list) = self.erp_customers.get(h) {
                if list.len() == 1 {
                    strong.push(Who {
                        rfc: list[0].clone(),
                        how: "hint",
                        confidence: 94,
                        detail: format!("provider metadata names customer {h}"),
                    });
                }
            } else if self.known_rfcs.contains(&h.to_uppercase()) {
                strong.push(Who {
                    rfc: h.to_uppercase(),
                    how: "hint",
                    confidence: 94,
                    detail: format!("provider metadata names customer {h}"),
                });
            }
        }
        if let Some(first) = strong.first() {
            let others = || strong.iter().filter(|w| w.rfc != first.rfc);
            if let Some(other) = others().find(|w| self.shared_group(&first.rfc, &w.rfc).is_none())
            {
                return Payer::Conflict(format!(
                    "{} says {} but {} says {}",
                    first.how, first.rfc, other.how, other.rfc
                ));
            }
            // Evidence naming two members of one group (a sister paying with the member's referencia): the group
            // paid, for an invoice of any member the amount decides (see `Ctx::by_amount`).
            if let Some(other) = others().next() {
                let group = self
                    .shared_group(&first.rfc, &other.rfc)
                    .unwrap_or_default();
                return Payer::Known(Who {
                    rfc: first.rfc.clone(),
                    how: "group",
                    confidence: first.confidence.saturating_sub(4),
                    detail: format!(
                        "{} and {} says {}, both of group {group}",
                        first.detail, other.how, other.rfc
                    ),
                });
            }
            return Payer::Known(first.clone());
        }
        let Some(name) = p.payer_name.as_deref() else {
            return Payer::Unknown;
        };
        let key = text::name_key(name);
        if key.len() < 3 {
            return Payer::Unknown;
        }
        *by_name = Some(key.clone());
        if let Some(list) = self.name_aliases.get(&key) {
            if list.len() == 1 {
                return Payer::Known(Who {
                    rfc: list[0].clone(),
                    how: "learned_name",
                    confidence: 93,
                    detail: format!("payer name {name:?} was matched to {} before", list[0]),
                });
            }
        }
        if let Some(list) = self.by_name.names_exact.get(&key) {
            return if list.len() == 1 {
                Payer::Known(Who {
                    rfc: list[0].clone(),
                    how: "name",
                    confidence: 90,
                    detail: format!("payer name {name:?} is {}", self.name_of(&list[0])),
                })
            } else if let Some((rfc, form)) = self.by_legal_form(name, list) {
                Payer::Known(Who {
                    rfc: rfc.to_string(),
                    how: "name",
                    confidence: 88,
                    detail: format!(
                        "payer name {name:?} is {} (its legal form {form} tells it from {} other customers of that name)",
                        self.name_of(rfc),
                        list.len() - 1
                    ),
                })
            } else {
                Payer::Conflict(format!("payer name {name:?} fits {} customers", list.len()))
            };
        }
        let accepted = match memo.outcomes.get(&key) {
            Some(a) => a.clone(),
            None => {
                let a = self.by_name.similar_name(&key, memo);
                memo.outcomes.insert(key, a.clone());
                a
            }
        };
        match accepted {
            Some((rfc, s)) => Payer::Known(Who {
                how: "similar_name",
                confidence: 82,
                detail: format!(
                    "payer name {name:?} resembles {} ({:.0}%)",
                    self.name_of(&rfc),
                    s * 100.0
                ),
                rfc,
            }),
            None => Payer::Unknown,
        }
    }
}
