//! The passes. Pure: [`decide`] reads an [`Input`] and returns a [`Decision`].

use super::text::{self, Fragment};
use super::*;
use crate::store::money;
use cuadra_sdk::InvoiceRef;
use std::collections::{HashMap, HashSet};

/// Generic RFCs many customers share: never identify a customer.
const GENERIC_RFCS: &[&str] = &["XAXX010101000", "XEXX010101000"];
/// Days after a payment in which an invoice may still be issued for it (invoices dated a little later).
const ISSUE_SLACK_DAYS: i64 = 7;
/// Subset search bounds.
const SUBSET_MAX_INVOICES: usize = 40;
const SUBSET_MAX_SIZE: usize = 8;
const SUBSET_BUDGET: usize = 200_000;
/// Fuzzy name acceptance: score and margin over the next customer.
const NAME_ACCEPT: f64 = 0.92;
const NAME_MARGIN: f64 = 0.04;
/// Blocks larger than this are too common a word to compare against.
const NAME_BLOCK_MAX: usize = 5_000;
/// Blocks probed per payer name: the rarest two, then more while they add up to few names.
const NAME_PROBE_BLOCKS: usize = 2;
const NAME_PROBE_SMALL: usize = 256;
/// Blocks larger than this are not counted either (see `Ctx::similar_name`).
const NAME_COUNT_MAX: usize = 50_000;

#[derive(Debug, Clone)]
struct Who {
    rfc: String,
    how: &'static str,
    confidence: u8,
    detail: String,
}

/// One identifying thread's scratch: the tolerant comparison's outcome per name key, and marks of the names
/// already compared for the current key (a generation number per name instead of a hash set per key).
#[derive(Default)]
struct NameMemo {
    outcomes: Map<String, Option<(String, f64)>>,
    marks: Vec<u32>,
    generation: u32,
    /// Per name, how many of the current key's words it shares (see `Ctx::similar_name`); zero between keys.
    shared: Vec<u8>,
    touched: Vec<u32>,
}

#[derive(Debug, Clone)]
enum Payer {
    Known(Who),
    Conflict(String),
    Unknown,
}

struct Ctx<'a> {
    inv: &'a [&'a InvoiceIn],
    open: Vec<i64>,
    by_uuid: MultiIndex<u128>,
    by_uuid_prefix: MultiIndex<u32>,
    by_uuid_suffix: MultiIndex<u32>,
    /// By a 64-bit hash of the folio key (look-ups check the folio itself).
    by_folio: MultiIndex<u64>,
    by_erp: Map<String, Vec<usize>>,
    by_customer: Map<&'a str, Vec<usize>>,
    by_amount: MultiIndex<(u16, i64)>,
    currencies: Map<&'a str, u16>,
    /// Who is who (read through `Deref`).
    cust: Customers,
    rejected: &'a HashSet<(i64, i64)>,
    opts: &'a Options,
}

impl std::ops::Deref for Ctx<'_> {
    type Target = Customers;
    fn deref(&self) -> &Customers {
        &self.cust
    }
}

/// The customers' side of the look-ups (RFCs, names exact and blocked for the tolerant comparison, references, ERP
/// ids, learned aliases) and pass 3, who paid, which reads nothing else. Built from the master apart from the
/// invoices (the store builds it while it still reads invoices and payments: [`Customers::from_master`]), then
/// completed with what the invoices say of their receptors.
pub struct Customers {
    rfc_of_customer: Map<i64, String>,
    customer_of_rfc: Map<String, i64>,
    display_name: Map<String, String>,
    accounts: Map<String, Vec<String>>,
    references: Map<String, Vec<String>>,
    name_aliases: Map<String, Vec<String>>,
    erp_customers: Map<String, Vec<String>>,
    names_exact: Map<String, Vec<String>>,
    /// Every name in `names_exact`, by number (`name_blocks` holds the numbers of the names with each word): its
    /// RFC's number in `name_rfcs`, and where its key and token-sorted key sit in `name_text`. One text for all
    /// of them: a compared name's key and sorted key share a cache line or two, where three strings of their own
    /// (RFC, key, sorted key) were three separate misses.
    names: Vec<NameEntry>,
    name_text: String,
    name_rfcs: Vec<String>,
    name_rfc_ids: Map<String, u32>,
    /// Each block's names and, beside them in the same order, their sketches: a probe reads a block's sketches
    /// front to back instead of jumping to each name's sketch in one big array (those cache misses were most of
    /// the name comparison's time at a hundred thousand customers).
    name_blocks: Map<String, NameBlock>,
    /// Every name's sketch, by number (for the word-count probe, which visits few names of big blocks).
    name_sketches: Vec<text::NameHistogram>,
    known_rfcs: Set<String>,
    /// Whether the invoices' receptors were added (`add_invoices`).
    with_invoices: bool,
    /// Payers identified from the master alone ([`Customers::identify_early`]).
    early: EarlyPayers,
}

/// The engine's own maps and sets, keyed by RFCs, names and ids from the ledger: FxHash (a few instructions per
/// key) instead of SipHash, which was a tenth of building the look-ups over a million invoices.
type Map<K, V> = HashMap<K, V, rustc_hash::FxBuildHasher>;
type Set<K> = HashSet<K, rustc_hash::FxBuildHasher>;

fn uuid_key(u: &str) -> String {
    u.chars()
        .filter(|c| c.is_ascii_hexdigit())
        .collect::<String>()
        .to_uppercase()
}

/// The 128 bits of a UUID written with 32 hexadecimal digits (any dashes or case).
fn uuid_num(u: &str) -> Option<u128> {
    let mut k: u128 = 0;
    let mut digits = 0;
    for c in u.chars() {
        if let Some(d) = c.to_digit(16) {
            k = (k << 4) | u128::from(d);
            digits += 1;
            if digits > 32 {
                return None;
            }
        }
    }
    (digits == 32).then_some(k)
}

fn folio_hash(folio_key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    folio_key.hash(&mut h);
    h.finish()
}

/// A read-only multimap from a small key to invoice indexes: one sorted array (a few bytes per invoice, no
/// allocation per key) instead of a hash map of vectors.
struct MultiIndex<K> {
    keys: Vec<K>,
    at: Vec<u32>,
}

impl<K> Default for MultiIndex<K> {
    fn default() -> Self {
        MultiIndex {
            keys: Vec::new(),
            at: Vec::new(),
        }
    }
}

impl<K: Ord + Copy> MultiIndex<K> {
    fn new(mut pairs: Vec<(K, u32)>) -> Self {
        pairs.sort_unstable();
        let (keys, at) = pairs.into_iter().unzip();
        MultiIndex { keys, at }
    }

    /// The invoices under `k`, in index order.
    fn get(&self, k: &K) -> Vec<usize> {
        let start = self.keys.partition_point(|x| x < k);
        let end = start + self.keys[start..].partition_point(|x| x == k);
        self.at[start..end].iter().map(|&i| i as usize).collect()
    }

    fn first(&self, k: &K) -> Option<usize> {
        let start = self.keys.partition_point(|x| x < k);
        (self.keys.get(start) == Some(k)).then(|| self.at[start] as usize)
    }
}

fn push_unique(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_string());
    }
}

/// One name of `Ctx::names`: its RFC's number and where its texts are in `Ctx::name_text`.
struct NameEntry {
    rfc: u32,
    at: u32,
    key_len: u32,
    sorted_len: u32,
}

/// Names sharing a word (see `Ctx::name_blocks`).
#[derive(Default)]
struct NameBlock {
    ids: Vec<u32>,
    sketches: Vec<text::NameHistogram>,
}

/// The invoices' side of the look-ups, built apart from the customers' (on its own core).
struct InvoiceSide<'a> {
    by_uuid: MultiIndex<u128>,
    by_uuid_prefix: MultiIndex<u32>,
    by_uuid_suffix: MultiIndex<u32>,
    by_folio: MultiIndex<u64>,
    by_amount: MultiIndex<(u16, i64)>,
    by_erp: Map<String, Vec<usize>>,
    by_customer: Map<&'a str, Vec<usize>>,
    currencies: Map<&'a str, u16>,
}

impl<'a> InvoiceSide<'a> {
    fn build(invoices: &[&'a InvoiceIn]) -> InvoiceSide<'a> {
        let n = invoices.len();
        let (mut uuids, mut prefixes, mut suffixes, mut folios, mut amounts) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let mut by_erp: Map<String, Vec<usize>> = Map::default();
        let mut by_customer: Map<&'a str, Vec<usize>> = Map::default();
        let mut currencies: Map<&'a str, u16> = Map::default();
        let mut last_currency: Option<(&str, u16)> = None;
        for (idx, &i) in invoices.iter().enumerate() {
            let at = idx as u32;
            if let Some(k) = i.uuid.as_deref().and_then(uuid_num) {
                uuids.push((k, at));
                prefixes.push(((k >> 96) as u32, at));
                suffixes.push((k as u32, at));
            }
            if let Some(f) = &i.folio {
                folios.push((folio_hash(&text::folio_key(f)), at));
            }
            // Invoices come in runs of one currency: the map is asked only when it changes.
            let cur = match last_currency {
                Some((name, id)) if name == i.currency.as_str() => id,
                _ => {
                    let next = currencies.len() as u16;
                    let id = *currencies.entry(i.currency.as_str()).or_insert(next);
                    last_currency = Some((i.currency.as_str(), id));
                    id
                }
            };
            amounts.push(((cur, i.open), at));
            if let Some(e) = &i.erp_id {
                by_erp.entry(e.trim().to_string()).or_default().push(idx);
            }
            if let Some(r) = &i.customer_rfc {
                if !GENERIC_RFCS.contains(&r.as_str()) {
                    by_customer.entry(r.as_str()).or_default().push(idx);
                }
            }
        }
        // The sorts on two cores: by the time the invoices are indexed, the customers' side is usually done.
        let ((by_uuid, by_uuid_prefix, by_uuid_suffix), (by_folio, by_amount)) =
            std::thread::scope(|sc| {
                let uuid_side = sc.spawn(|| {
                    (
                        MultiIndex::new(uuids),
                        MultiIndex::new(prefixes),
                        MultiIndex::new(suffixes),
                    )
                });
                let rest = (MultiIndex::new(folios), MultiIndex::new(amounts));
                (uuid_side.join().expect("sorting invoices panicked"), rest)
            });
        InvoiceSide {
            by_uuid,
            by_uuid_prefix,
            by_uuid_suffix,
            by_folio,
            by_amount,
            by_erp,
            by_customer,
            currencies,
        }
    }
}

impl<'a> Ctx<'a> {
    fn new(
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
        }
    }
}

/// What the invoices' receptors added to the master's look-ups: name keys, their words, RFCs.
#[derive(Default)]
struct InvoiceChanges {
    keys: Set<String>,
    words: Set<String>,
    rfcs: Set<String>,
}

impl InvoiceChanges {
    /// Whether a payer identified from the master alone (`by_name`: the key its name was looked up by, if it came
    /// to that) could be identified otherwise now: its RFC or hint became known, or its name key, or one of its
    /// words (whose block the tolerant comparison reads), is among those added. Nothing else it read changed.
    fn affect(&self, p: &PaymentIn, by_name: Option<&str>) -> bool {
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
type EarlyPayers = Map<i64, (Payer, Option<String>)>;

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
            names_exact: Map::default(),
            names: Vec::new(),
            name_text: String::new(),
            name_rfcs: Vec::new(),
            name_rfc_ids: Map::default(),
            name_blocks: Map::default(),
            name_sketches: Vec::new(),
            known_rfcs: Set::default(),
            with_invoices: false,
            early: Map::default(),
        };
        c.add_master(customers, aliases);
        c
    }

    /// What the invoices say of their receptors: the names they were invoiced under (after the master's), and
    /// their RFCs as known ones. Once only.
    fn add_invoices(
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
            if let Some(key) = self.add_name(rfc, name) {
                changes
                    .words
                    .extend(text::block_tokens(&key).map(str::to_string));
                changes.keys.insert(key);
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
    fn add_master(&mut self, customers: &[CustomerIn], aliases: &[AliasIn]) {
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
            let _ = c.add_name(rfc, &cu.name);
        }
        for a in aliases {
            let Some(rfc) = c.rfc_of_customer.get(&a.customer_id).cloned() else {
                continue;
            };
            match a.kind.as_str() {
                "account" => push_unique(
                    c.accounts
                        .entry(crate::store::normalize_account(&a.value))
                        .or_default(),
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
                _ => {}
            }
        }
    }

    /// Adds a name of `rfc`; returns its key if that changed the look-ups.
    fn add_name(&mut self, rfc: &str, name: &str) -> Option<String> {
        let key = text::name_key(name);
        if key.is_empty() {
            return None;
        }
        let list = self.names_exact.entry(key.clone()).or_default();
        if list.iter().any(|x| x == rfc) {
            return None;
        }
        list.push(rfc.to_string());
        let n = self.names.len() as u32;
        let h = text::name_histogram(&key);
        for t in text::block_tokens(&key) {
            let b = match self.name_blocks.get_mut(t) {
                Some(b) => b,
                None => self.name_blocks.entry(t.to_string()).or_default(),
            };
            // A word twice in one name ("ZUNIGA ZUNIGA") puts the name in its block once.
            if b.ids.last() != Some(&n) {
                b.ids.push(n);
                b.sketches.push(h.clone());
            }
        }
        self.name_sketches.push(h);
        let sorted = text::sorted_tokens(&key);
        let next = self.name_rfcs.len() as u32;
        let rfc_id = *self.name_rfc_ids.entry(rfc.to_string()).or_insert(next);
        if rfc_id == next {
            self.name_rfcs.push(rfc.to_string());
        }
        self.names.push(NameEntry {
            rfc: rfc_id,
            at: self.name_text.len() as u32,
            key_len: key.len() as u32,
            sorted_len: sorted.len() as u32,
        });
        self.name_text.push_str(&key);
        self.name_text.push_str(&sorted);
        Some(key)
    }

    /// A name's key and token-sorted key.
    fn name_texts(&self, e: &NameEntry) -> (&str, &str) {
        let at = e.at as usize;
        self.name_text[at..at + (e.key_len + e.sorted_len) as usize].split_at(e.key_len as usize)
    }

    fn name_of(&self, rfc: &str) -> String {
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
    fn identify_shared(
        &self,
        payments: &[&PaymentIn],
        next: &std::sync::atomic::AtomicUsize,
        stop: &std::sync::atomic::AtomicBool,
    ) -> Vec<(i64, (Payer, Option<String>))> {
        use std::sync::atomic::Ordering::Relaxed;
        const SLICE: usize = 256;
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

    /// [`Customers::identify`], noting in `by_name` the payer name's key when the names decided (nothing
    /// stronger did, and the key is long enough to compare).
    fn identify_noting(
        &self,
        p: &PaymentIn,
        memo: &mut NameMemo,
        by_name: &mut Option<String>,
    ) -> Payer {
        let mut strong: Vec<Who> = Vec::new();
        if let Some(acct) = p
            .payer_account
            .as_deref()
            .map(crate::store::normalize_account)
        {
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
        if let Some(r) = p
            .referencia
            .as_deref()
            .map(text::id_key)
            .filter(|r| !r.is_empty())
        {
            if let Some(list) = self.references.get(&r) {
                if list.len() == 1 {
                    strong.push(Who {
                        rfc: list[0].clone(),
                        how: "reference",
                        confidence: 96,
                        detail: format!("referencia {r} is {}'s", list[0]),
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
            if let Some(other) = strong.iter().find(|w| w.rfc != first.rfc) {
                return Payer::Conflict(format!(
                    "{} says {} but {} says {}",
                    first.how, first.rfc, other.how, other.rfc
                ));
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
        if let Some(list) = self.names_exact.get(&key) {
            return if list.len() == 1 {
                Payer::Known(Who {
                    rfc: list[0].clone(),
                    how: "name",
                    confidence: 90,
                    detail: format!("payer name {name:?} is {}", self.name_of(&list[0])),
                })
            } else {
                Payer::Conflict(format!("payer name {name:?} fits {} customers", list.len()))
            };
        }
        let accepted = match memo.outcomes.get(&key) {
            Some(a) => a.clone(),
            None => {
                let a = self.similar_name(&key, memo);
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

    /// The customer whose names a payer name key resembles enough, and by how much.
    fn similar_name(&self, key: &str, memo: &mut NameMemo) -> Option<(String, f64)> {
        // Tolerant comparison within the blocks of the name's words. A name whose similarity cannot reach
        // NAME_ACCEPT - NAME_MARGIN changes nothing (it can be neither accepted nor close enough to the best to
        // veto it), so it is skipped on a cheap upper bound; a name in several of the blocks is compared once.
        let floor = NAME_ACCEPT - NAME_MARGIN - 1e-6;
        let hist = text::name_histogram(key);
        let query = text::NameQuery::new(key);
        let mut best: Map<u32, f64> = Map::default();
        // The full comparison of name `n`, given the bound of its sketch: skipped when the bound rules it out.
        let mut compare = |n: u32, (bound, maybe_prefix): (f64, bool)| {
            if bound < floor && !maybe_prefix {
                return;
            }
            let entry = &self.names[n as usize];
            let (ckey, csorted) = self.name_texts(entry);
            if bound < floor && !text::is_long_prefix(key, ckey) {
                return;
            }
            let s = query.similarity(ckey, csorted, floor);
            // Below the floor a name can be neither accepted nor close enough to veto: not ranked.
            if s >= floor {
                let e = best.entry(entry.rfc).or_insert(0.0);
                if s > *e {
                    *e = s;
                }
            }
        };
        // Names that similar share all but a typo's worth of their words: the rarest words of the payer name
        // (two, or more while the blocks stay small) find every name that can reach the floor.
        let mut words: Vec<&str> = text::block_tokens(key).collect();
        words.sort_unstable();
        words.dedup();
        let mut blocks: Vec<&NameBlock> = words
            .iter()
            .filter_map(|t| self.name_blocks.get(*t))
            .filter(|b| b.ids.len() <= NAME_COUNT_MAX)
            .collect();
        blocks.sort_by_key(|b| b.ids.len());
        if blocks.len() >= 3 && blocks[0].ids.len() > NAME_PROBE_SMALL {
            // Every word of the payer name is common (as in a master of many customers named after a few
            // surnames, trades and regions): a name of three words or more that can reach the floor shares at
            // least two of them, so only the names counted in two blocks are compared. Counting is a byte per
            // name touched, where comparing every name of the two rarest blocks read thousands of sketches.
            if memo.shared.len() != self.names.len() {
                memo.shared = vec![0; self.names.len()];
            }
            memo.touched.clear();
            for block in &blocks {
                for &n in &block.ids {
                    let c = &mut memo.shared[n as usize];
                    if *c == 0 {
                        memo.touched.push(n);
                    }
                    *c = c.saturating_add(1);
                }
            }
            // Every name counted is listed once, compared when it shares two words, and its count cleared.
            for &n in &memo.touched {
                let c = &mut memo.shared[n as usize];
                if *c >= 2 {
                    compare(
                        n,
                        text::sketch_bound(&hist, &self.name_sketches[n as usize]),
                    );
                }
                *c = 0;
            }
        } else {
            if memo.marks.len() != self.names.len() {
                memo.marks = vec![0; self.names.len()];
            }
            memo.generation += 1;
            let generation = memo.generation;
            let mut probed = 0usize;
            blocks.retain(|b| b.ids.len() <= NAME_BLOCK_MAX);
            for (k, block) in blocks.into_iter().enumerate() {
                if k >= NAME_PROBE_BLOCKS && probed + block.ids.len() > NAME_PROBE_SMALL {
                    break;
                }
                probed += block.ids.len();
                for (&n, sketch) in block.ids.iter().zip(&block.sketches) {
                    // The bound depends on the name alone, so a name it rules out is ruled out in every block
                    // (and is checked before the name's mark, which is a read elsewhere in memory).
                    let bound = text::sketch_bound(&hist, sketch);
                    if bound.0 < floor && !bound.1 {
                        continue;
                    }
                    // A name in several of the blocks is compared once.
                    let mark = &mut memo.marks[n as usize];
                    if *mark == generation {
                        continue;
                    }
                    *mark = generation;
                    compare(n, bound);
                }
            }
        }
        let mut ranked: Vec<(&str, f64)> = best
            .into_iter()
            .map(|(r, s)| (self.name_rfcs[r as usize].as_str(), s))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        match ranked.as_slice() {
            [(rfc, s), rest @ ..]
                if *s >= NAME_ACCEPT
                    && rest.first().is_none_or(|(_, s2)| s - s2 >= NAME_MARGIN) =>
            {
                Some((rfc.to_string(), *s))
            }
            _ => None,
        }
    }
}

impl<'a> Ctx<'a> {
    /// Invoices whose folio key is `number`.
    fn folio_matches(&self, number: &str) -> Vec<usize> {
        let mut v = self.by_folio.get(&folio_hash(number));
        v.retain(|&i| {
            self.inv[i]
                .folio
                .as_deref()
                .is_some_and(|f| text::folio_key(f) == number)
        });
        v
    }

    fn usable(&self, p: &PaymentIn, idx: usize) -> bool {
        self.open[idx] > 0
            && self.inv[idx].currency == p.currency
            && (self.rejected.is_empty() || !self.rejected.contains(&(p.id, self.inv[idx].id)))
    }

    fn issued_in_time(&self, p: &PaymentIn, idx: usize) -> bool {
        (self.inv[idx].issued_on - p.booked_on).num_days() <= ISSUE_SLACK_DAYS
    }

    fn label(&self, idx: usize) -> String {
        let i = &self.inv[idx];
        match (&i.serie, &i.folio) {
            (Some(s), Some(f)) if !s.is_empty() => format!("{s}-{f}"),
            (_, Some(f)) => f.clone(),
            _ => i.uuid.clone().unwrap_or_else(|| format!("#{}", i.id)),
        }
    }

    /// Invoices a text names (serie/folio or UUID fragments).
    fn named_by(&self, frags: &[Fragment]) -> Vec<(usize, &'static str)> {
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
                        let inv_serie = self.inv[i]
                            .serie
                            .as_deref()
                            .map(text::serie_key)
                            .unwrap_or_default();
                        match serie {
                            Some(s) if *s == inv_serie => add(i, "serie_folio", &mut out),
                            Some(_) => {}
                            None => add(i, "folio", &mut out),
                        }
                    }
                }
            }
        }
        out
    }

    fn alloc(
        &mut self,
        p: &PaymentIn,
        idx: usize,
        amount: i64,
        method: &'static str,
        confidence: u8,
        explanation: String,
    ) -> NewAllocation {
        self.open[idx] -= amount;
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

    /// Pass 1: remittance lines naming invoices (provider/ERP metadata, REP lines by serie/folio).
    fn remittance(
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

    /// Pass 4a: references in the text that the amount confirms.
    fn by_reference(
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
                    .filter(|(i, _)| self.inv[*i].customer_rfc.as_deref() == Some(w.rfc.as_str()))
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

    /// Pass 4b: with the payer known, the amount (one invoice, a combination, a partial payment with a reference).
    fn by_amount(
        &mut self,
        p: &PaymentIn,
        payer: &Payer,
        frags: &[Fragment],
    ) -> Result<Vec<NewAllocation>, (String, Vec<usize>)> {
        if let Some(acct) = p
            .payer_account
            .as_deref()
            .map(crate::store::normalize_account)
        {
            if self.opts.own_accounts.contains(&acct) {
                return Err((
                    "own_transfer: from one of the company's own accounts".into(),
                    vec![],
                ));
            }
        }
        let named: Vec<usize> = self
            .named_by(frags)
            .into_iter()
            .map(|(i, _)| i)
            .filter(|i| self.usable(p, *i))
            .collect();
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
        let all: Vec<usize> = self
            .by_customer
            .get(who.rfc.as_str())
            .map(|l| l.iter().copied().filter(|&i| self.usable(p, i)).collect())
            .unwrap_or_default();
        let cust = self.name_of(&who.rfc);
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

    /// The payer's open invoices in the payment's currency, including pairs a person removed (shown, ranked low).
    fn customer_invoices_for_review(&self, p: &PaymentIn, rfc: &str) -> Vec<usize> {
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

    fn same_amount(&self, p: &PaymentIn) -> Vec<usize> {
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
    fn candidates(
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

#[derive(Debug, PartialEq)]
enum Subset {
    Unique(Vec<usize>),
    Several,
    None,
    TooLarge,
}

/// Bounded exact subset-sum: sizes 2..=SUBSET_MAX_SIZE over at most SUBSET_MAX_INVOICES amounts; stops at the
/// second solution or when the node budget is spent (then no answer is trusted).
fn subset(amounts: &[i64], target: i64) -> Subset {
    let n = amounts.len();
    if n < 2 {
        return Subset::None;
    }
    if n > SUBSET_MAX_INVOICES {
        return Subset::TooLarge;
    }
    let total: i64 = amounts.iter().sum();
    if total < target {
        return Subset::None;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| amounts[b].cmp(&amounts[a]).then(a.cmp(&b)));
    let sorted: Vec<i64> = order.iter().map(|&i| amounts[i]).collect();
    let mut suffix = vec![0i64; n + 1];
    for i in (0..n).rev() {
        suffix[i] = suffix[i + 1] + sorted[i];
    }
    struct S<'a> {
        a: &'a [i64],
        suffix: &'a [i64],
        found: Vec<Vec<usize>>,
        nodes: usize,
        cur: Vec<usize>,
    }
    fn go(s: &mut S, start: usize, left: i64) -> bool {
        s.nodes += 1;
        if s.nodes > SUBSET_BUDGET {
            return false;
        }
        if left == 0 {
            if s.cur.len() >= 2 {
                s.found.push(s.cur.clone());
            }
            return s.found.len() < 2;
        }
        if s.cur.len() >= SUBSET_MAX_SIZE || start >= s.a.len() || s.suffix[start] < left {
            return true;
        }
        for i in start..s.a.len() {
            if s.a[i] > left {
                continue;
            }
            if s.suffix[i] < left {
                break;
            }
            s.cur.push(i);
            let cont = go(s, i + 1, left - s.a[i]);
            s.cur.pop();
            if !cont {
                return false;
            }
        }
        true
    }
    let mut s = S {
        a: &sorted,
        suffix: &suffix,
        found: vec![],
        nodes: 0,
        cur: vec![],
    };
    let complete = go(&mut s, 0, target);
    match s.found.len() {
        0 if complete => Subset::None,
        0 => Subset::TooLarge,
        1 if complete => Subset::Unique(s.found[0].iter().map(|&k| order[k]).collect()),
        1 => Subset::TooLarge,
        _ => Subset::Several,
    }
}

fn sort_key_payment(p: &PaymentIn) -> (chrono::NaiveDate, &str, &str) {
    (p.booked_on, p.kind.as_str(), p.external_id.as_str())
}

fn kind_rank(kind: &str) -> u8 {
    match kind {
        "rep" => 0,
        "provider" => 1,
        "erp" => 2,
        "spei" => 3,
        _ => 4,
    }
}

/// The invoices in content order: issue date, then UUID (sorted on a compact key first: the date and the UUID's
/// value, which orders canonical lower-case UUIDs as their text does); equal keys (no UUID, or one not in canonical
/// form) fall back to the full comparison.
fn sorted_invoices(invoices: &[InvoiceIn]) -> Vec<&InvoiceIn> {
    let canonical = |u: &str| {
        u.len() == 36
            && u.bytes().enumerate().all(|(i, c)| {
                if matches!(i, 8 | 13 | 18 | 23) {
                    c == b'-'
                } else {
                    c.is_ascii_digit() || (b'a'..=b'f').contains(&c)
                }
            })
    };
    let mut keyed: Vec<((i32, u128), &InvoiceIn)> = invoices
        .iter()
        .map(|i| {
            let u = i
                .uuid
                .as_deref()
                .filter(|u| canonical(u))
                .and_then(uuid_num)
                .map_or(0, |k| k.saturating_add(1).max(1));
            ((chrono::Datelike::num_days_from_ce(&i.issued_on), u), i)
        })
        .collect();
    keyed.sort_unstable_by(|(ka, a), (kb, b)| {
        ka.cmp(kb).then_with(|| {
            a.uuid
                .cmp(&b.uuid)
                .then_with(|| a.serie.cmp(&b.serie))
                .then_with(|| a.folio.cmp(&b.folio))
                .then_with(|| a.id.cmp(&b.id))
        })
    });
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// Decides allocations, same-money links and exceptions.
pub fn decide(input: &Input, opts: &Options) -> Decision {
    decide_early(input, opts, None, &mut |_| {})
}

/// Allocations decided between two calls of the `early` callback of [`decide_early`] (about one write of the store).
const EARLY_ALLOCATIONS: usize = 4096;

/// [`decide`], handing `early` the decision so far while the allocation passes run, so that the store writes it
/// meanwhile: first as soon as its payer changes (`customers`) and same-money `links` are final, then every few
/// thousand allocations. Everything in the decision at a call is final: later calls only append allocations (and
/// the returned decision adds the exceptions). `customers`: the master's look-ups if built already (from
/// `input.customers` and `input.aliases`).
pub fn decide_early(
    input: &Input,
    opts: &Options,
    customers: Option<Customers>,
    early: &mut dyn FnMut(&Decision),
) -> Decision {
    let t = std::time::Instant::now();
    let lap = |phase: &str| tracing::debug!(phase, ms = t.elapsed().as_millis() as u64, "decide");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let mut payments: Vec<&PaymentIn> = input.payments.iter().filter(|p| p.amount > 0).collect();
    // Two things are independent until the allocation passes: the invoices' look-ups (sorted in content order,
    // then indexed) and who paid (the customers' look-ups, then pass 3 for every payment, a pure function of
    // the payment). The invoices are indexed on a core of their own while the customers' side is completed and
    // payers identified on the others; that core joins identifying when its look-ups are built.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let never = std::sync::atomic::AtomicBool::new(false);
    // Set once the customers' side is complete, with the payments still to identify: `None` if building it
    // panicked (the waiting threads then stop).
    type Ready<'p> = std::sync::OnceLock<Option<(Customers, Vec<&'p PaymentIn>)>>;
    let ready: Ready<'_> = std::sync::OnceLock::new();
    struct NoneOnUnwind<'r, 'p>(&'r Ready<'p>);
    impl Drop for NoneOnUnwind<'_, '_> {
        fn drop(&mut self) {
            let _ = self.0.set(None);
        }
    }
    let identify_slices = |(cust, todo): &(Customers, Vec<&PaymentIn>)| {
        cust.identify_shared(todo, &next, &never)
            .into_iter()
            .map(|(id, (payer, _))| (id, payer))
            .collect::<Vec<_>>()
    };
    let (invoices, side, payers) = std::thread::scope(|sc| {
        let (ready, identify_slices) = (&ready, &identify_slices);
        let invoice_side = sc.spawn(move || {
            let invoices = sorted_invoices(&input.invoices);
            lap("sorted");
            let side = InvoiceSide::build(&invoices);
            lap("invoice look-ups built");
            let found = match ready.wait() {
                Some(cust) => identify_slices(cust),
                None => vec![],
            };
            (invoices, side, found)
        });
        let unwinding = NoneOnUnwind(ready);
        let mut cust =
            customers.unwrap_or_else(|| Customers::from_master(&input.customers, &input.aliases));
        let changes = cust.add_invoices(&input.invoice_names, &input.invoices);
        // Payers identified from the master alone stand unless what the invoices added could change them.
        let mut early = std::mem::take(&mut cust.early);
        let mut payers: Map<i64, Payer> = Map::default();
        let mut todo = Vec::new();
        for p in input.payments.iter().filter(|p| p.amount > 0) {
            match early.remove(&p.id) {
                Some((payer, by_name)) if !changes.affect(p, by_name.as_deref()) => {
                    payers.insert(p.id, payer);
                }
                _ => todo.push(p),
            }
        }
        drop(early);
        tracing::debug!(
            kept = payers.len(),
            todo = todo.len(),
            "customer look-ups built"
        );
        lap("customer look-ups built");
        let _ = ready.set(Some((cust, todo)));
        drop(unwinding);
        let Some(cust) = ready.wait() else {
            unreachable!("set just above")
        };
        let others: Vec<_> = (2..threads)
            .map(|_| sc.spawn(move || identify_slices(cust)))
            .collect();
        payers.extend(identify_slices(cust));
        for h in others {
            payers.extend(h.join().expect("identifying payers panicked"));
        }
        let (invoices, side, found) = invoice_side.join().expect("indexing invoices panicked");
        payers.extend(found);
        (invoices, side, payers)
    });
    lap("identified");
    // Content order, never database order (payers were identified in any order; the passes go in this one).
    payments.sort_by(|a, b| sort_key_payment(a).cmp(&sort_key_payment(b)));
    let (cust, _) = ready
        .into_inner()
        .flatten()
        .expect("the customers' look-ups were built");
    let mut ctx = Ctx::new(input, &invoices, side, cust, opts);
    let mut out = Decision::default();

    for p in &payments {
        if let Some(Payer::Known(w)) = payers.get(&p.id) {
            if let Some(&cid) = ctx.customer_of_rfc.get(&w.rfc) {
                if p.customer_id != Some(cid) {
                    out.customers.push((p.id, cid));
                }
            }
        }
    }

    // Pass 2: the same money seen twice.
    let linked = same_money(&payments, &payers, opts, &mut out);
    lap("same_money");
    early(&out);

    // Pending: cash not yet explained.
    let mut pending: Vec<&PaymentIn> = payments
        .iter()
        .copied()
        .filter(|p| p.same_as.is_none() && !linked.contains(&p.id) && p.allocated == 0)
        .collect();
    let frags: Map<i64, Vec<Fragment>> = pending
        .iter()
        .map(|p| {
            let mut t = p.concepto.clone().unwrap_or_default();
            if let Some(r) = &p.referencia {
                t.push(' ');
                t.push_str(r);
            }
            (p.id, text::fragments(&t))
        })
        .collect();

    // Pass 1: remittance.
    let mut errors: Map<i64, String> = Map::default();
    pending.retain(|p| {
        let payer = &payers[&p.id];
        match ctx.remittance(p, payer) {
            Some(Ok(a)) => {
                out.allocations.extend(a);
                false
            }
            Some(Err(e)) => {
                errors.insert(p.id, e);
                true
            }
            None => true,
        }
    });
    // REPs are documents, not cash: beyond their remittance they are not matched.
    pending.retain(|p| p.kind != "rep");
    // Pass 4a: references confirmed by the amount, for every payment before any amount-only decision.
    pending.retain(|p| {
        if errors.contains_key(&p.id) {
            return true;
        }
        match ctx.by_reference(p, &payers[&p.id], &frags[&p.id]) {
            Some(a) => {
                out.allocations.extend(a);
                false
            }
            None => true,
        }
    });
    lap("references");
    let mut handed = 0usize;
    let mut hand_over = |out: &Decision, at_least: usize| {
        if out.allocations.len() >= handed + at_least {
            early(out);
            handed = out.allocations.len();
        }
    };
    hand_over(&out, 1);
    // Pass 4b: amounts, combinations, partials; what is left is an exception.
    for p in pending {
        let payer = &payers[&p.id];
        let f = &frags[&p.id];
        if let Some(e) = errors.get(&p.id) {
            let c = ctx.candidates(p, payer, f, vec![]);
            out.exceptions.push(ExceptionOut {
                payment_id: p.id,
                reason: format!("remittance: {e}"),
                candidates: c,
            });
            continue;
        }
        match ctx.by_amount(p, payer, f) {
            Ok(a) => {
                out.allocations.extend(a);
                hand_over(&out, EARLY_ALLOCATIONS);
            }
            Err((reason, pool)) => {
                let c = ctx.candidates(p, payer, f, pool);
                out.exceptions.push(ExceptionOut {
                    payment_id: p.id,
                    reason,
                    candidates: c,
                });
            }
        }
    }
    out.exceptions.sort_by_key(|e| e.payment_id);
    lap("amounts");
    out
}

/// Pass 2. Returns the payments now explained by another record.
fn same_money(
    payments: &[&PaymentIn],
    payers: &Map<i64, Payer>,
    opts: &Options,
    out: &mut Decision,
) -> Set<i64> {
    let mut linked: Set<i64> = Set::default();
    // A target absorbs at most one record of each kind.
    let mut taken: Set<(i64, String)> = payments
        .iter()
        .filter_map(|p| p.same_as.map(|t| (t, p.kind.clone())))
        .collect();
    let ids_of = |p: &PaymentIn| -> Vec<String> {
        [&p.operation_number, &p.clave_rastreo, &p.bank_reference]
            .into_iter()
            .flatten()
            .map(|s| text::id_key(s))
            .filter(|k| k.len() >= 6)
            .collect()
    };
    let mut by_id: Map<String, Vec<usize>> = Map::default();
    for (i, t) in payments.iter().enumerate() {
        if kind_rank(&t.kind) < 4 {
            for k in ids_of(t) {
                by_id.entry(k).or_default().push(i);
            }
        }
    }
    let who = |p: &PaymentIn| match payers.get(&p.id) {
        Some(Payer::Known(w)) => Some(w.rfc.clone()),
        _ => None,
    };
    // Sources: cash records that a lower-ranked record may describe, not decided by a person.
    let sources: Vec<usize> = (0..payments.len())
        .filter(|&i| {
            let p = payments[i];
            kind_rank(&p.kind) >= 3 && p.same_as.is_none() && !p.manual
        })
        .collect();
    let fits = |s: &PaymentIn, t: &PaymentIn| {
        s.id != t.id
            && kind_rank(&t.kind) < kind_rank(&s.kind)
            && t.currency == s.currency
            && t.amount == s.amount
            && t.same_as.is_none()
    };
    // Strong: a shared identifier (clave de rastreo, NumOperacion, reference).
    let mut weak_sources = Vec::new();
    for &si in &sources {
        let s = payments[si];
        let mut cands: Vec<usize> = ids_of(s)
            .iter()
            .filter_map(|k| by_id.get(k))
            .flatten()
            .copied()
            .filter(|&ti| {
                fits(s, payments[ti]) && !taken.contains(&(payments[ti].id, s.kind.clone()))
            })
            .collect();
        cands.sort_unstable();
        cands.dedup();
        if cands.len() == 1 {
            let t = payments[cands[0]];
            taken.insert((t.id, s.kind.clone()));
            linked.insert(s.id);
            out.links.push(SameMoney {
                payment_id: s.id,
                same_as: t.id,
                explanation: format!(
                    "{} {} and {} {} share the identifier and the amount {}",
                    s.kind,
                    s.external_id,
                    t.kind,
                    t.external_id,
                    money(s.amount, &s.currency)
                ),
            });
        } else {
            weak_sources.push(si);
        }
    }
    // Weak: same customer, same amount, dates close; unique both ways.
    let mut by_cust_amount: Map<(String, String, i64), Vec<usize>> = Map::default();
    for (i, t) in payments.iter().enumerate() {
        if kind_rank(&t.kind) < 4 && t.same_as.is_none() {
            if let Some(r) = who(t) {
                by_cust_amount
                    .entry((r, t.currency.clone(), t.amount))
                    .or_default()
                    .push(i);
            }
        }
    }
    let near = |s: &PaymentIn, t: &PaymentIn| {
        (s.booked_on - t.booked_on).num_days().abs() <= opts.same_money_days
    };
    let mut proposals: Vec<(usize, usize)> = Vec::new();
    for &si in &weak_sources {
        let s = payments[si];
        let Some(r) = who(s) else { continue };
        let Some(list) = by_cust_amount.get(&(r, s.currency.clone(), s.amount)) else {
            continue;
        };
        let c: Vec<usize> = list
            .iter()
            .copied()
            .filter(|&ti| {
                fits(s, payments[ti])
                    && near(s, payments[ti])
                    && !taken.contains(&(payments[ti].id, s.kind.clone()))
            })
            .collect();
        // Prefer the strongest kind present (a REP over a SPEI notification).
        let best = c.iter().map(|&ti| kind_rank(&payments[ti].kind)).min();
        let c: Vec<usize> = c
            .into_iter()
            .filter(|&ti| Some(kind_rank(&payments[ti].kind)) == best)
            .collect();
        if c.len() == 1 {
            proposals.push((si, c[0]));
        }
    }
    // Unique the other way too: a target claimed by two sources of one kind links neither.
    let mut claims: Map<(usize, String), usize> = Map::default();
    for (si, ti) in &proposals {
        *claims.entry((*ti, payments[*si].kind.clone())).or_default() += 1;
    }
    for (si, ti) in proposals {
        let (s, t) = (payments[si], payments[ti]);
        if claims[&(ti, s.kind.clone())] != 1 {
            continue;
        }
        taken.insert((t.id, s.kind.clone()));
        linked.insert(s.id);
        out.links.push(SameMoney {
            payment_id: s.id,
            same_as: t.id,
            explanation: format!(
                "{} {} and {} {}: same customer, same amount {}, dates {} and {}",
                s.kind,
                s.external_id,
                t.kind,
                t.external_id,
                money(s.amount, &s.currency),
                s.booked_on,
                t.booked_on
            ),
        });
    }
    out.links.sort_by_key(|l| l.payment_id);
    linked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invoice(id: i64, rfc: &str, total: i64) -> InvoiceIn {
        InvoiceIn {
            id,
            uuid: Some(format!("{id:08x}-0000-4000-8000-000000000000")),
            serie: Some("A".into()),
            folio: Some(id.to_string()),
            erp_id: None,
            customer_rfc: Some(rfc.into()),
            currency: "MXN".into(),
            issued_on: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            open: total,
        }
    }

    fn payment(id: i64, amount: i64, name: Option<&str>, rfc: Option<&str>) -> PaymentIn {
        PaymentIn {
            id,
            kind: "bank".into(),
            external_id: format!("p{id}"),
            booked_on: NaiveDate::from_ymd_opt(2026, 1, 20).unwrap(),
            currency: "MXN".into(),
            amount,
            allocated: 0,
            manual: false,
            same_as: None,
            payer_name: name.map(str::to_string),
            payer_rfc: rfc.map(str::to_string),
            payer_account: None,
            referencia: None,
            clave_rastreo: None,
            bank_reference: None,
            concepto: None,
            operation_number: None,
            customer_hint: None,
            remittance: vec![],
            customer_id: None,
        }
    }

    /// Payers identified from the master alone while the invoices load, then completed with what the invoices
    /// say of their receptors (a receptor missing from the master, a second RFC under a master name, a name
    /// variant sharing words), decide exactly what identifying everything afterwards decides.
    #[test]
    fn payers_identified_early_decide_the_same() {
        let customer = |id: i64, rfc: &str, name: &str| CustomerIn {
            id,
            rfc: Some(rfc.into()),
            name: name.into(),
            payment_reference: None,
            erp_id: None,
        };
        let input = Input {
            customers: vec![
                customer(1, "AAA010101AA1", "Comercializadora del Norte SA de CV"),
                customer(2, "BBB010101BB2", "Transportes Garza Hermanos"),
                customer(3, "DDD010101DD4", "Ferreteria La Paloma"),
            ],
            aliases: vec![],
            invoices: vec![
                invoice(1, "AAA010101AA1", 1_000_000),
                invoice(2, "BBB010101BB2", 2_000_000),
                invoice(3, "CCC010101CC3", 3_000_000),
                invoice(4, "EEE010101EE5", 4_000_000),
                invoice(5, "DDD010101DD4", 5_000_000),
            ],
            // CCC is only on invoices; EEE is invoiced under D's master name; D also under a variant.
            invoice_names: vec![
                (
                    "CCC010101CC3".into(),
                    "Distribuidora Cardenas del Bajio".into(),
                ),
                (
                    "DDD010101DD4".into(),
                    "Ferreteria La Paloma Sucursal Centro".into(),
                ),
                ("EEE010101EE5".into(), "FERRETERIA LA PALOMA".into()),
            ],
            payments: vec![
                payment(10, 1_000_000, Some("COMERCIALIZADORA DEL NORTE"), None),
                payment(11, 2_000_000, Some("TRANSPORTES GARZA HNOS"), None),
                payment(
                    12,
                    3_000_000,
                    Some("DISTRIBUIDORA CARDENAS DEL BAJIO"),
                    None,
                ),
                payment(13, 3_000_000, None, Some("CCC010101CC3")),
                payment(14, 5_000_000, Some("FERRETERIA LA PALOMA"), None),
                payment(
                    15,
                    5_000_000,
                    Some("FERRETERIA PALOMA SUCURSAL CENTRO"),
                    None,
                ),
                payment(16, 4_000_000, Some("DISTRIBUIDORA CARDENAS DEL BAJI"), None),
            ],
            rejected: Default::default(),
        };
        let opts = Options::default();
        let after = decide(&input, &opts);
        let mut early = Customers::from_master(&input.customers, &input.aliases);
        early.identify_early(
            &input.payments,
            2,
            &std::sync::atomic::AtomicBool::new(false),
        );
        assert_eq!(early.early.len(), input.payments.len());
        let during = decide_early(&input, &opts, Some(early), &mut |_| {});
        let json = |d: &Decision| serde_json::to_string_pretty(d).unwrap();
        assert_eq!(json(&during), json(&after));
        // The cases are live: the invoices' receptors change who paid some of these.
        let mut master_only = input.clone();
        master_only.invoice_names.clear();
        master_only.invoices.truncate(2);
        assert_ne!(json(&decide(&master_only, &opts)), json(&after));
        // Stopped at once, nothing is identified early and everything afterwards.
        let mut stopped = Customers::from_master(&input.customers, &input.aliases);
        stopped.identify_early(
            &input.payments,
            1,
            &std::sync::atomic::AtomicBool::new(true),
        );
        assert!(stopped.early.is_empty());
        assert_eq!(
            json(&decide_early(&input, &opts, Some(stopped), &mut |_| {})),
            json(&after)
        );
    }

    #[test]
    fn subset_unique_several_none() {
        assert_eq!(subset(&[100, 200, 300], 500), Subset::Unique(vec![2, 1]));
        assert_eq!(subset(&[100, 200, 300, 400], 500), Subset::Several);
        assert_eq!(subset(&[100, 200], 250), Subset::None);
        assert_eq!(subset(&[100; 41], 200), Subset::TooLarge);
    }
}
