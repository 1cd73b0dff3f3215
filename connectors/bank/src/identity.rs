//! Stable transaction identities (`external_id`) and the final [`PaymentRecord`]s.
//!
//! The same transaction seen in two overlapping statements, or the same file imported twice, must get the same
//! `external_id`, because the daemon's raw inbox and ledger deduplicate on it. The rules, strongest first:
//!
//! | source | id |
//! |---|---|
//! | camt `TxDtls/Refs/UETR` | `uetr:<uuid lower-case>` (globally unique) |
//! | camt `AcctSvcrRef` (transaction-level, else entry-level) | `asr:<ACCOUNT>:<ref>` |
//! | OFX `FITID` | `fitid:<ACCOUNT>:<fitid>` |
//! | SPEI clave de rastreo (CEP) | `rastreo:<YYYYMMDD>:<sending bank>:<clave>` |
//! | CSV column declared unique (`CsvMapping::id`, e.g. PayPal `Transaction ID`) | `row:<ACCOUNT>:<id>` |
//! | anything else (MT940, CSV without id, entries without refs) | `h:<32 hex>` |
//!
//! `<ACCOUNT>` is the account the file names (upper-case letters and digits only), else the `--account` given;
//! the same file imported once with and once without `--account` and without an account of its own therefore
//! yields different ids (give `--account` consistently). A camt entry split into several `TxDtls` appends
//! `/<index>` to the entry's reference.
//!
//! The fallback `h:` id is the first 128 bits of SHA-256 over the tuple (account, booking date, amount,
//! currency, bank reference, clave de rastreo, referencia numérica, other references, payer name, payer
//! account, concepto) — each normalized to upper-case letters and digits — plus the **occurrence index** of that
//! tuple within its statement. Two genuinely identical payments on one day (same payer, amount, text) get
//! indexes 0 and 1 and stay distinct; the same statement day exported twice yields the same indexes. Known
//! limit: a statement that carries only the *second* of two identical same-day payments (a partial intraday
//! report) gives it index 0, so it would merge with the first; camt.052 intraday files usually carry
//! `AcctSvcrRef`, which avoids this. MT940 deliberately does not trust the `:61:` bank reference on its own
//! (banks reuse it, or send `NONREF`); it enters the hash instead.
//!
//! Bank references that should be unique but repeat inside one statement get `#2`, `#3`... appended in order.
//! The same identity appearing again in a *later statement of the same file* (overlapping statements, as in a
//! multi-statement camt) is dropped as a duplicate and counted in [`Parsed::duplicates`].
//!
//! **Continuation or overlap.** A later statement that *continues* an earlier one (the next page of a statement,
//! the next day) carries new entries, even when they look exactly like earlier ones (four identical 20,000.00
//! credits on one day, two on the first page and two on the second). Statement B continues statement A of the
//! same file when all of this holds ([`continues`]): same account and currency; B's opening balance equals A's
//! closing balance; the entries of each add up (opening + entries = closing); B's opening balance is not dated
//! before A's closing balance, nor B numbered before A (MT940 `:28C:`, camt `ElctrncSeqNb`/`LglSeqNb`); and B
//! is not A sent again (same reference and opening balance, or a repeat of a
//! statement whose entries net to zero). Then the occurrence indexes of B's `h:` ids go on from A's instead of
//! starting at 0, so B's entries get ids of their own. Anything else (no balances, balances that do not chain,
//! an overlap) keeps the rule above: an identity already seen is the same transaction. Unique references
//! (`uetr:`, `asr:`, `fitid:`, `rastreo:`, `row:`) are not affected. A statement whose entries do not add up to
//! its closing balance, or that lacks a balance it should have, gives a [`Warning`].

mod continuation;
mod seen;

use continuation::check;
pub use continuation::continues;
use seen::SeenIds;

use crate::model::{Entry, Parsed, StatementHead, Txn, UniqueRef, Warning};
use crate::mx;
use crate::text::{norm_key, push_norm_key_bytes};
use chrono::Datelike;
use cuadra_sdk::{InputError, PaymentKind, PaymentRecord};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

/// Assigns identities, enriches Mexican fields and builds the records. `account` overrides the own account.
pub fn finish(
    txns: Vec<Txn>,
    account: Option<&str>,
    kind: PaymentKind,
    problems: Vec<InputError>,
) -> Parsed {
    let mut f = Finisher::new(txns.len(), account, kind);
    for t in txns {
        f.push(t);
    }
    f.finish(problems)
}

/// [`finish`] one transaction at a time, so a parser can hand over each transaction as soon as it is complete
/// instead of collecting them all first (same records, same order, same ids).
pub struct Finisher<'o> {
    account: Option<&'o str>,
    kind: PaymentKind,
    /// Keyed by a 128-bit hash of the id rather than the id itself: far fewer allocations on million-entry
    /// files. For `h:` ids the key is the id's own 128 bits.
    seen_in: SeenIds,
    occurrences: HashMap<(usize, u128), usize, FoldState>,
    entries: Vec<Entry>,
    /// Id keys and statements of the last entries, not yet checked against earlier statements.
    unchecked: Vec<(u128, usize)>,
    duplicates: usize,
    // Reused across entries: the hashed tuple, the enrichment scratch, and the normalized account of the
    // previous entry.
    tuple: Vec<u8>,
    hay: String,
    upper: String,
    acct_cache: Option<(String, String)>,
    /// The statement of the last entry and the chain it belongs to (the index of the chain's first statement;
    /// the scope of the `h:` occurrence indexes).
    current: Option<usize>,
    chain: usize,
    /// The last statement seen per account and currency, with its chain.
    last: Vec<(Arc<StatementHead>, usize)>,
    /// The occurrence counts belong to statements already done; cleared unless the next one continues them.
    occurrences_done: bool,
    /// The latest booking date of the chain so far: a continuation whose entries all come later cannot repeat
    /// a tuple (the date is part of it), so the counts are dropped (the map stays as small as a statement).
    chain_last_booked: Option<chrono::NaiveDate>,
    warnings: Vec<Warning>,
}

impl<'o> Finisher<'o> {
    /// `capacity`: the expected number of transactions.
    pub fn new(capacity: usize, account: Option<&'o str>, kind: PaymentKind) -> Self {
        Finisher {
            account,
            kind,
            seen_in: SeenIds::with_capacity(capacity),
            occurrences: HashMap::with_capacity_and_hasher(capacity, FoldState::default()),
            entries: Vec::with_capacity(capacity),
            unchecked: Vec::with_capacity(Self::BATCH),
            duplicates: 0,
            tuple: Vec::new(),
            hay: String::new(),
            upper: String::new(),
            acct_cache: None,
            current: None,
            chain: 0,
            last: Vec::new(),
            occurrences_done: false,
            chain_last_booked: None,
            warnings: Vec::new(),
        }
    }

    /// A statement begins: its warnings, and whether it continues the last one of its account.
    fn open(&mut self, statement: usize, head: Option<&Arc<StatementHead>>) {
        self.current = Some(statement);
        let mut chain = statement;
        if let Some(h) = head {
            self.warnings.extend(check(h));
            let same = |p: &StatementHead| {
                p.currency == h.currency
                    && p.account.as_deref().map(norm_key) == h.account.as_deref().map(norm_key)
            };
            match self.last.iter_mut().find(|(p, _)| same(p)) {
                Some(slot) => {
                    if continues(&slot.0, h) {
                        chain = slot.1;
                    }
                    *slot = (Arc::clone(h), chain);
                }
                None => self.last.push((Arc::clone(h), chain)),
            }
        }
        let later = match (head.and_then(|h| h.first_booked), self.chain_last_booked) {
            (Some(first), Some(last)) => first > last,
            _ => false,
        };
        if self.occurrences_done && (chain != self.chain || later) {
            self.occurrences.clear();
        }
        if chain != self.chain {
            self.chain_last_booked = None;
        }
        self.occurrences_done = false;
        self.chain = chain;
    }

    /// [`Self::statements_done`] for the statement `head`, which may have had no entries at all.
    pub fn statement_end(&mut self, head: &Arc<StatementHead>) {
        if self.current != Some(head.index) {
            self.open(head.index, Some(head));
        }
        self.statements_done();
    }

    /// Room for `n` more transactions (the per-statement occurrence counts grow on demand).
    pub fn reserve(&mut self, n: usize) {
        self.seen_in.reserve(n);
        self.entries.reserve(n);
    }

    /// The caller promises that no transaction of the statements pushed so far follows: their occurrence
    /// counts are forgotten (keeps that map as small as one statement instead of the whole file).
    pub fn statements_done(&mut self) {
        self.check_unchecked();
        // Kept until the next statement shows whether it continues this one.
        self.occurrences_done = true;
    }

    /// Identity, enrichment and record of the next transaction.
    pub fn push(&mut self, mut t: Txn) {
        if self.current != Some(t.statement) {
            let head = t.head.take();
            self.open(t.statement, head.as_ref());
        }
        self.chain_last_booked = self.chain_last_booked.max(Some(t.booked_on));
        mx::enrich_with(&mut t, &mut self.hay, &mut self.upper);
        let account = self.account;
        let acct_src = t.file_account.as_deref().or(account);
        let id_account: &str = match acct_src {
            None => "",
            Some(src) => {
                if self.acct_cache.as_ref().map(|c| c.0.as_str()) != Some(src) {
                    self.acct_cache = Some((src.to_string(), norm_key(src)));
                }
                self.acct_cache.as_ref().map_or("", |c| c.1.as_str())
            }
        };
        let (id, id_key) = match &t.unique_ref {
            None => {
                // `h:` + the first 128 bits of SHA-256(tuple, 0x1f, occurrence index). The id for index 0
                // doubles as the occurrence key of the tuple (one hash per entry in the common case).
                tuple_key(&t, id_account, &mut self.tuple);
                let mut h = Sha256::new();
                h.update(&self.tuple);
                h.update(b"\x1f");
                let first = h.clone().chain_update(b"0").finalize();
                let base_key = prefix128(&first);
                let n = self.occurrences.entry((self.chain, base_key)).or_insert(0);
                let index = *n;
                *n += 1;
                let digest = if index == 0 {
                    first
                } else {
                    h.chain_update(index.to_string().as_bytes()).finalize()
                };
                let mut id = String::with_capacity(34);
                id.push_str("h:");
                for b in digest.iter().take(16) {
                    id.push(HEX[usize::from(b >> 4)] as char);
                    id.push(HEX[usize::from(b & 0xf)] as char);
                }
                (id, prefix128(&digest))
            }
            Some(r) => {
                let base = match r {
                    UniqueRef::Uetr(u) => format!("uetr:{}", u.trim().to_ascii_lowercase()),
                    UniqueRef::AcctSvcrRef(r) => format!("asr:{id_account}:{}", r.trim()),
                    UniqueRef::Fitid(r) => format!("fitid:{id_account}:{}", r.trim()),
                    UniqueRef::Rastreo(r) => {
                        format!("rastreo:{}:{}", t.booked_on.format("%Y%m%d"), r.trim())
                    }
                    UniqueRef::RowId(r) => format!("row:{id_account}:{}", r.trim()),
                };
                let base = match t.part {
                    Some(i) => format!("{base}/{i}"),
                    None => base,
                };
                let base_key = key128(base.as_bytes());
                let n = self.occurrences.entry((t.statement, base_key)).or_insert(0);
                let index = *n;
                *n += 1;
                if index > 0 {
                    let id = format!("{base}#{}", index + 1);
                    let k = key128(id.as_bytes());
                    (id, k)
                } else {
                    (base, base_key)
                }
            }
        };
        // Whether an earlier statement had this id is decided in batches (`check_unchecked`), which drops
        // the entry again if so.
        if self.unchecked.last().is_some_and(|u| u.1 != t.statement)
            || self.unchecked.len() >= Self::BATCH
        {
            self.check_unchecked();
        }
        self.unchecked.push((id_key, t.statement));
        let own_account = match account {
            Some(a) => Some(a.to_string()),
            None => t.file_account.take(),
        };
        let concepto = t.concepto.take().or_else(|| {
            let refs: Vec<&str> = t.other_refs.iter().map(String::as_str).collect();
            (!refs.is_empty()).then(|| refs.join(" "))
        });
        let status = crate::returns::status_of(
            t.status,
            t.amount.amount().is_sign_negative(),
            &[concepto.as_deref(), t.payer_name.as_deref()],
        );
        self.entries.push(Entry {
            span: t.span,
            line: t.line,
            record: PaymentRecord {
                kind: self.kind,
                external_id: id,
                own_account,
                booked_on: t.booked_on,
                value_date: t.value_date,
                amount: t.amount,
                bank_reference: t.bank_reference,
                clave_rastreo: t.clave_rastreo,
                payer_name: t.payer_name,
                payer_rfc: t.payer_rfc,
                payer_account: t.payer_account,
                referencia_numerica: t.referencia_numerica.or(t.late_referencia),
                concepto,
                document_id: None,
                operation_number: None,
                remittance: t.remittance,
                customer_hint: None,
                status,
            },
        });
    }

    /// Most entries checked against the ids of earlier statements at once.
    const BATCH: usize = 1024;

    /// Records the ids of the entries not checked yet, in order, and drops those an earlier statement already
    /// had. Batched so that the lookups, independent of each other, can overlap their cache misses.
    fn check_unchecked(&mut self) {
        if self.unchecked.is_empty() {
            return;
        }
        let start = self.entries.len() - self.unchecked.len();
        self.seen_in.warm(&self.unchecked);
        let mut dropped = 0;
        let mut keep = Vec::new();
        for (i, &(key, statement)) in self.unchecked.iter().enumerate() {
            let dup = self
                .seen_in
                .check_insert(key, statement)
                .is_some_and(|first| first != statement);
            if dup {
                if keep.is_empty() {
                    keep = vec![true; self.unchecked.len()];
                }
                keep[i] = false;
                dropped += 1;
            }
        }
        self.unchecked.clear();
        if dropped > 0 {
            self.duplicates += dropped;
            let mut w = start;
            for (r, k) in (start..self.entries.len()).zip(&keep) {
                if *k {
                    self.entries.swap(w, r);
                    w += 1;
                }
            }
            self.entries.truncate(w);
        }
    }

    /// The records so far, with the parser's `problems`.
    pub fn finish(mut self, problems: Vec<InputError>) -> Parsed {
        self.check_unchecked();
        Parsed {
            entries: self.entries,
            problems,
            duplicates: self.duplicates,
            warnings: self.warnings,
        }
    }
}

/// The first 128 bits of a digest.
fn prefix128(d: &[u8]) -> u128 {
    let mut b = [0u8; 16];
    for (o, i) in b.iter_mut().zip(d) {
        *o = *i;
    }
    u128::from_be_bytes(b)
}

/// Two independent SipHash-1-3 values of `s` (fixed keys, so stable within a run; only used as map keys).
fn key128(s: &[u8]) -> u128 {
    use std::hash::{BuildHasher, Hasher};
    let a = std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default();
    let mut h1 = a.build_hasher();
    h1.write(s);
    let mut h2 = a.build_hasher();
    h2.write_u8(0x5a);
    h2.write(s);
    (u128::from(h1.finish()) << 64) | u128::from(h2.finish())
}

/// Map keys here are already SipHash values: hashing them again is wasted work, so they are only folded.
type FoldState = std::hash::BuildHasherDefault<FoldHasher>;

#[derive(Default)]
struct FoldHasher(u64);

const FOLD_K: u64 = 0x9e37_79b9_7f4a_7c15;

impl std::hash::Hasher for FoldHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(*b)).wrapping_mul(FOLD_K);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = (self.0.rotate_left(5) ^ (v as u64) ^ ((v >> 64) as u64)).wrapping_mul(FOLD_K);
    }
    fn write_usize(&mut self, v: usize) {
        self.0 = (self.0.rotate_left(5) ^ v as u64).wrapping_mul(FOLD_K);
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The normalized tuple hashed for `h:` ids (occurrence index added by the caller), written into `out`:
/// account, booking date, amount, currency, bank reference, clave de rastreo, referencia numérica, other
/// references (joined by `|`), payer name, payer account, concepto, separated by `\x1f`.
fn tuple_key(t: &Txn, account: &str, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(account.as_bytes());
    out.push(0x1f);
    let d = t.booked_on;
    if (0..=9999).contains(&d.year()) {
        push_padded(out, d.year().unsigned_abs(), 4);
        out.push(b'-');
        push_padded(out, d.month(), 2);
        out.push(b'-');
        push_padded(out, d.day(), 2);
    } else {
        use std::io::Write as _;
        let _ = write!(out, "{}", d.format("%Y-%m-%d"));
    }
    out.push(0x1f);
    push_decimal(out, &t.amount.amount().normalize());
    out.push(0x1f);
    out.extend_from_slice(t.amount.currency().as_str().as_bytes());
    for o in [&t.bank_reference, &t.clave_rastreo, &t.referencia_numerica] {
        out.push(0x1f);
        if let Some(s) = o {
            push_norm_key_bytes(out, s);
        }
    }
    out.push(0x1f);
    for (i, r) in t.other_refs.iter().enumerate() {
        if i > 0 {
            out.push(b'|');
        }
        push_norm_key_bytes(out, r);
    }
    for o in [&t.payer_name, &t.payer_account, &t.concepto] {
        out.push(0x1f);
        if let Some(s) = o {
            push_norm_key_bytes(out, s);
        }
    }
}

/// `v` in decimal, left-padded with zeros to `width` digits (`{:0width$}` for a small unsigned number).
fn push_padded(out: &mut Vec<u8>, v: u32, width: usize) {
    let mut buf = [0u8; 10];
    let mut n = 0;
    let mut v = v;
    while v > 0 || n < width {
        buf[n] = b'0' + (v % 10) as u8;
        v /= 10;
        n += 1;
        if n == buf.len() {
            break;
        }
    }
    out.extend(buf[..n].iter().rev());
}

/// Exactly `Display` of a [`Decimal`] without the formatting machinery: sign, integer digits (`0` when
/// there are none), then `.` and `scale` fraction digits.
fn push_decimal(out: &mut Vec<u8>, d: &rust_decimal::Decimal) {
    let scale = d.scale() as usize;
    let m = d.mantissa().unsigned_abs();
    // 2^96 has 29 digits; the scale is at most 28.
    let mut digits = [b'0'; 40];
    let mut len = 0;
    if let Ok(mut m) = u64::try_from(m) {
        while m > 0 && len < digits.len() {
            digits[len] = b'0' + (m % 10) as u8;
            m /= 10;
            len += 1;
        }
    } else {
        let mut m = m;
        while m > 0 && len < digits.len() {
            digits[len] = b'0' + (m % 10) as u8;
            m /= 10;
            len += 1;
        }
    }
    let len = len.max(scale).min(digits.len());
    if d.is_sign_negative() {
        out.push(b'-');
    }
    let whole = len - scale.min(len);
    if whole == 0 {
        out.push(b'0');
    } else {
        out.extend(digits[len - whole..len].iter().rev());
    }
    if scale > 0 {
        out.push(b'.');
        out.extend(digits[..len - whole].iter().rev());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    /// The Bloom-filtered path of `SeenIds` drops exactly what the plain map drops (overlapping statements,
    /// repeats inside one statement, more entries than planned).
    #[test]
    fn seen_ids_filter_matches_map() {
        use chrono::NaiveDate;
        use cuadra_sdk::{Currency, Money};
        let day = NaiveDate::from_ymd_opt(2024, 11, 8).unwrap_or_default();
        let mut txns = Vec::new();
        for stmt in 0..4usize {
            // Statement 2 repeats the second half of statement 1; statement 3 is new; each has repeats.
            let range = match stmt {
                2 => 3000..9000,
                3 => 9000..15000,
                _ => stmt * 6000..stmt * 6000 + 6000,
            };
            for i in range {
                let mut t = Txn::new(day, Money::new(Decimal::from(i % 5000), Currency::MXN));
                t.statement = stmt;
                t.concepto = Some(format!("pago {i}"));
                if i % 3 == 0 {
                    t.unique_ref = Some(UniqueRef::Fitid(format!("F{}", i % 4000)));
                }
                txns.push(t);
            }
        }
        let run = |plan: Option<usize>| {
            let mut f = Finisher::new(0, Some("acct"), PaymentKind::Bank);
            if let Some(n) = plan {
                f.reserve(n);
            }
            for t in txns.clone() {
                f.push(t);
            }
            format!("{:?}", f.finish(Vec::new()))
        };
        let exact = run(None);
        assert!(exact.contains("duplicates: ") && !exact.ends_with("duplicates: 0 }"));
        assert_eq!(run(Some(txns.len())), exact);
        assert_eq!(run(Some(5000)), exact, "more entries than planned");
        assert_eq!(run(Some(100_000)), exact);
    }

    #[test]
    fn decimal_text_matches_display() {
        let mut vals: Vec<Decimal> = Vec::new();
        for (m, sc) in [
            (0i128, 0u32),
            (0, 2),
            (5, 3),
            (-5, 3),
            (12345, 2),
            (-12345, 2),
            (100, 0),
            (1, 28),
            (79_228_162_514_264_337_593_543_950_335, 0),
            (-79_228_162_514_264_337_593_543_950_335, 28),
            (18_446_744_073_709_551_616, 7),
        ] {
            vals.push(Decimal::from_i128_with_scale(m, sc));
        }
        vals.push(-Decimal::ZERO);
        vals.push(-Decimal::from_i128_with_scale(0, 4));
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let m = i128::from(x as i64) * i128::from((x >> 11) as u32 | 1);
            vals.push(Decimal::from_i128_with_scale(m, (x % 29) as u32));
            vals.push(Decimal::from_i128_with_scale(
                i128::from(x % 100_000),
                (x % 5) as u32,
            ));
        }
        for v in vals {
            for d in [v, v.normalize()] {
                let mut out = Vec::new();
                push_decimal(&mut out, &d);
                assert_eq!(String::from_utf8(out).unwrap(), d.to_string());
            }
        }
        let mut out = Vec::new();
        push_padded(&mut out, 7, 4);
        push_padded(&mut out, 12, 2);
        push_padded(&mut out, 2024, 4);
        push_padded(&mut out, 0, 2);
        assert_eq!(
            out,
            b"0007122024"
                .iter()
                .chain(b"00")
                .copied()
                .collect::<Vec<u8>>()
        );
    }
}
