//! [`SeenIds`]: the identities seen so far in a file, with the statement each was first seen in.

use super::FoldState;
use std::collections::HashMap;

/// The ids seen so far (by 128-bit key) and the statement each was first seen in.
///
/// A million-entry file would make a hash map of all keys tens of megabytes, probed at random once per entry.
/// Since a repeated id is rare, keys are first only appended to a list and entered in a Bloom filter (one cache
/// line per key, 64 bits per expected key, 12 bits set): while the filter says "new", the key is certainly new. The first
/// time it says "maybe" (a repeat, or rarely a false positive), or when more keys come than planned, the exact
/// map is built from the list and used from then on. Same answers either way.
pub(super) struct SeenIds {
    /// The exact map, once built.
    map: Option<HashMap<u128, usize, FoldState>>,
    /// Until then: (key high, key low, first statement) in arrival order, all distinct.
    list: Vec<(u64, u64, usize)>,
    /// Blocked Bloom filter over `list` (a power-of-two number of 512-bit blocks).
    filter: Vec<Block>,
    /// How many keys the filter was sized for.
    planned: usize,
}

impl SeenIds {
    /// Below this many expected keys the exact map is small enough to stay in cache: no filter.
    const FILTER_MIN: usize = 4096;

    pub(super) fn with_capacity(n: usize) -> Self {
        if n < Self::FILTER_MIN {
            return SeenIds {
                map: Some(HashMap::with_capacity_and_hasher(n, FoldState::default())),
                list: Vec::new(),
                filter: Vec::new(),
                planned: 0,
            };
        }
        SeenIds {
            map: None,
            list: Vec::with_capacity(n),
            filter: vec![Block([0; 8]); (n / 8).next_power_of_two()],
            planned: n,
        }
    }

    pub(super) fn reserve(&mut self, n: usize) {
        let empty = self.list.is_empty() && !matches!(&self.map, Some(m) if !m.is_empty());
        if empty {
            *self = SeenIds::with_capacity(n);
        } else if let Some(m) = self.map.as_mut() {
            m.reserve(n);
        }
    }

    /// Loads the filter blocks of `keys` (independent loads overlap their misses; `check_insert` then finds
    /// them in cache).
    pub(super) fn warm(&self, keys: &[(u128, usize)]) {
        if self.map.is_some() || self.filter.is_empty() {
            return;
        }
        let mask = self.filter.len() - 1;
        let mut acc = 0u64;
        for (key, _) in keys {
            acc ^= self.filter[(*key as u64 as usize) & mask].0[0];
        }
        std::hint::black_box(acc);
    }

    /// The statement `key` was first seen in; `None` when it is new, and then it is recorded with `statement`.
    pub(super) fn check_insert(&mut self, key: u128, statement: usize) -> Option<usize> {
        if self.map.is_none() {
            let hi = (key >> 64) as u64;
            let lo = key as u64;
            let mask = self.filter.len() - 1;
            let block = &mut self.filter[(lo as usize) & mask].0;
            // Twelve bit positions inside the block, 9 bits of the key each: seven from the high half, five
            // from the low half above bit 20 (the block index, for up to 2^20 blocks, is below it).
            let pos = |j: u32| -> usize {
                let bits = if j < 7 {
                    hi >> (9 * j)
                } else {
                    lo >> (20 + 9 * (j - 7))
                };
                bits as usize & 511
            };
            let mut maybe = true;
            for j in 0..12 {
                let p = pos(j);
                maybe &= block[p >> 6] & (1u64 << (p & 63)) != 0;
            }
            if !maybe && self.list.len() < self.planned {
                for j in 0..12 {
                    let p = pos(j);
                    block[p >> 6] |= 1u64 << (p & 63);
                }
                self.list.push((hi, lo, statement));
                return None;
            }
            let mut map = HashMap::with_capacity_and_hasher(
                self.planned.max(self.list.len()) + 1,
                FoldState::default(),
            );
            for &(hi, lo, s) in &self.list {
                map.insert((u128::from(hi) << 64) | u128::from(lo), s);
            }
            self.map = Some(map);
            self.list = Vec::new();
            self.filter = Vec::new();
        }
        match self.map.as_mut()?.entry(key) {
            std::collections::hash_map::Entry::Occupied(o) => Some(*o.get()),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(statement);
                None
            }
        }
    }
}

/// One cache line of the Bloom filter.
#[derive(Clone, Copy)]
#[repr(align(64))]
struct Block([u64; 8]);
