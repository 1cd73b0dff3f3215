//! The tolerant name comparison: every customer name by number, blocked by word, with a sketch per name that
//! bounds its similarity cheaply; a payer name is compared only with the names that can reach the acceptance
//! score.

use super::index::Map;
use super::text;

/// Fuzzy name acceptance: score and margin over the next customer.
const NAME_ACCEPT: f64 = 0.92;
const NAME_MARGIN: f64 = 0.04;
/// Blocks larger than this are too common a word to compare against.
const NAME_BLOCK_MAX: usize = 5_000;
/// Blocks probed per payer name: the rarest two, then more while they add up to few names.
const NAME_PROBE_BLOCKS: usize = 2;
const NAME_PROBE_SMALL: usize = 256;
/// Blocks larger than this are not counted either (see `NameIndex::similar_name`).
const NAME_COUNT_MAX: usize = 50_000;

/// One identifying thread's scratch: the tolerant comparison's outcome per name key, and marks of the names
/// already compared for the current key (a generation number per name instead of a hash set per key).
#[derive(Default)]
pub(super) struct NameMemo {
    pub(super) outcomes: Map<String, Option<(String, f64)>>,
    pub(super) marks: Vec<u32>,
    pub(super) generation: u32,
    /// Per name, how many of the current key's words it shares (see `NameIndex::similar_name`); zero between keys.
    pub(super) shared: Vec<u8>,
    pub(super) touched: Vec<u32>,
}

/// One name of `NameIndex::names`: its RFC's number and where its texts are in `NameIndex::name_text`.
pub(super) struct NameEntry {
    pub(super) rfc: u32,
    pub(super) at: u32,
    pub(super) key_len: u32,
    pub(super) sorted_len: u32,
}

/// Names sharing a word (see `NameIndex::name_blocks`).
#[derive(Default)]
pub(super) struct NameBlock {
    pub(super) ids: Vec<u32>,
    pub(super) sketches: Vec<text::NameHistogram>,
}

/// Every customer name known (the master's, then the invoices' receptors'), for the exact and the tolerant
/// comparison.
#[derive(Default)]
pub(super) struct NameIndex {
    /// Each name key and the RFCs it names.
    pub(super) names_exact: Map<String, Vec<String>>,
    /// Every name in `names_exact`, by number (`name_blocks` holds the numbers of the names with each word): its
    /// RFC's number in `name_rfcs`, and where its key and token-sorted key sit in `name_text`. One text for all
    /// of them, so that a compared name's key and sorted key share a cache line or two.
    pub(super) names: Vec<NameEntry>,
    pub(super) name_text: String,
    pub(super) name_rfcs: Vec<String>,
    pub(super) name_rfc_ids: Map<String, u32>,
    /// Each block's names and, beside them in the same order, their sketches: a probe reads a block's sketches
    /// front to back instead of jumping to each name's sketch in one big array (docs/reconcile.md, Performance).
    pub(super) name_blocks: Map<String, NameBlock>,
    /// Every name's sketch, by number (for the word-count probe, which visits few names of big blocks).
    pub(super) name_sketches: Vec<text::NameHistogram>,
}

impl NameIndex {
    /// Adds a name of `rfc`; returns its key if that changed the look-ups.
    pub(super) fn add_name(&mut self, rfc: &str, name: &str) -> Option<String> {
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

    /// The customer whose names a payer name key resembles enough, and by how much.
    pub(super) fn similar_name(&self, key: &str, memo: &mut NameMemo) -> Option<(String, f64)> {
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
