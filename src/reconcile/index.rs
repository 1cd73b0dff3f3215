//! The invoices' look-ups: sorted multimaps from UUIDs, folios, amounts, ERP ids and receptors to invoice indexes,
//! and the content order the passes see invoices in.

use super::text;
use crate::model::reconcile::{InvoiceIn, GENERIC_RFCS};
use std::collections::{HashMap, HashSet};

/// The engine's own maps and sets, keyed by RFCs, names and ids from the ledger: FxHash, a few instructions per key
/// (docs/reconcile.md, Performance).
pub(super) type Map<K, V> = HashMap<K, V, rustc_hash::FxBuildHasher>;
pub(super) type Set<K> = HashSet<K, rustc_hash::FxBuildHasher>;

pub(super) fn uuid_key(u: &str) -> String {
    u.chars()
        .filter(|c| c.is_ascii_hexdigit())
        .collect::<String>()
        .to_uppercase()
}

/// The 128 bits of a UUID written with 32 hexadecimal digits (any dashes or case).
pub(super) fn uuid_num(u: &str) -> Option<u128> {
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

pub(super) fn folio_hash(folio_key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    folio_key.hash(&mut h);
    h.finish()
}

/// A read-only multimap from a small key to invoice indexes: one sorted array (a few bytes per invoice, no
/// allocation per key) instead of a hash map of vectors.
pub(super) struct MultiIndex<K> {
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
    pub(super) fn new(mut pairs: Vec<(K, u32)>) -> Self {
        pairs.sort_unstable();
        let (keys, at) = pairs.into_iter().unzip();
        MultiIndex { keys, at }
    }

    /// The invoices under `k`, in index order.
    pub(super) fn get(&self, k: &K) -> Vec<usize> {
        let start = self.keys.partition_point(|x| x < k);
        let end = start + self.keys[start..].partition_point(|x| x == k);
        self.at[start..end].iter().map(|&i| i as usize).collect()
    }

    pub(super) fn first(&self, k: &K) -> Option<usize> {
        let start = self.keys.partition_point(|x| x < k);
        (self.keys.get(start) == Some(k)).then(|| self.at[start] as usize)
    }
}

/// The invoices' side of the look-ups, built apart from the customers' (on its own core).
pub(super) struct InvoiceSide<'a> {
    pub(super) by_uuid: MultiIndex<u128>,
    pub(super) by_uuid_prefix: MultiIndex<u32>,
    pub(super) by_uuid_suffix: MultiIndex<u32>,
    pub(super) by_folio: MultiIndex<u64>,
    pub(super) by_amount: MultiIndex<(u16, i64)>,
    pub(super) by_erp: Map<String, Vec<usize>>,
    pub(super) by_customer: Map<&'a str, Vec<usize>>,
    pub(super) currencies: Map<&'a str, u16>,
}

impl<'a> InvoiceSide<'a> {
    pub(super) fn build(invoices: &[&'a InvoiceIn]) -> InvoiceSide<'a> {
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
            for (_, f) in &i.replaces {
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

/// The invoices in content order: issue date, then UUID (sorted on a compact key first: the date and the UUID's
/// value, which orders canonical lower-case UUIDs as their text does); equal keys (no UUID, or one not in canonical
/// form) fall back to the full comparison.
pub(super) fn sorted_invoices(invoices: &[InvoiceIn]) -> Vec<&InvoiceIn> {
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
