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

use crate::model::{Entry, Parsed, Txn, UniqueRef};
use crate::mx;
use crate::text::{norm_key, push_norm_key_bytes};
use chrono::Datelike;
use cuadra_sdk::{InputError, PaymentKind, PaymentRecord};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Assigns identities, enriches Mexican fields and builds the records. `account` overrides the own account.
pub fn finish(
    txns: Vec<Txn>,
    account: Option<&str>,
    kind: PaymentKind,
    problems: Vec<InputError>,
) -> Parsed {
    // Keyed by a 128-bit hash of the id rather than the id itself: far fewer allocations on million-entry files.
    let mut seen_in: HashMap<u128, usize, FoldState> =
        HashMap::with_capacity_and_hasher(txns.len(), FoldState::default());
    let mut occurrences: HashMap<(usize, u128), usize, FoldState> =
        HashMap::with_capacity_and_hasher(txns.len(), FoldState::default());
    let mut entries = Vec::with_capacity(txns.len());
    let mut duplicates = 0;
    // Reused across entries: the hashed tuple, and the normalized account of the previous entry.
    let mut tuple: Vec<u8> = Vec::new();
    let (mut hay, mut upper) = (String::new(), String::new());
    let mut acct_cache: Option<(String, String)> = None;
    for mut t in txns {
        mx::enrich_with(&mut t, &mut hay, &mut upper);
        let acct_src = t.file_account.as_deref().or(account);
        let id_account: &str = match acct_src {
            None => "",
            Some(src) => {
                if acct_cache.as_ref().map(|c| c.0.as_str()) != Some(src) {
                    acct_cache = Some((src.to_string(), norm_key(src)));
                }
                acct_cache.as_ref().map_or("", |c| c.1.as_str())
            }
        };
        let (base, hashed) = match &t.unique_ref {
            Some(UniqueRef::Uetr(u)) => (format!("uetr:{}", u.trim().to_ascii_lowercase()), false),
            Some(UniqueRef::AcctSvcrRef(r)) => (format!("asr:{id_account}:{}", r.trim()), false),
            Some(UniqueRef::Fitid(r)) => (format!("fitid:{id_account}:{}", r.trim()), false),
            Some(UniqueRef::Rastreo(r)) => (
                format!("rastreo:{}:{}", t.booked_on.format("%Y%m%d"), r.trim()),
                false,
            ),
            Some(UniqueRef::RowId(r)) => (format!("row:{id_account}:{}", r.trim()), false),
            None => {
                tuple_key(&t, id_account, &mut tuple);
                (String::new(), true)
            }
        };
        let base = match t.part {
            Some(i) if !hashed => format!("{base}/{i}"),
            _ => base,
        };
        let base_key = key128(if hashed { &tuple } else { base.as_bytes() });
        let n = occurrences.entry((t.statement, base_key)).or_insert(0);
        let index = *n;
        *n += 1;
        let (id, id_key) = if hashed {
            let mut h = Sha256::new();
            h.update(&tuple);
            h.update(b"\x1f");
            h.update(index.to_string().as_bytes());
            let digest = h.finalize();
            let mut id = String::with_capacity(34);
            id.push_str("h:");
            for b in digest.iter().take(16) {
                id.push(HEX[usize::from(b >> 4)] as char);
                id.push(HEX[usize::from(b & 0xf)] as char);
            }
            let k = key128(id.as_bytes());
            (id, k)
        } else if index > 0 {
            let id = format!("{base}#{}", index + 1);
            let k = key128(id.as_bytes());
            (id, k)
        } else {
            (base, base_key)
        };
        match seen_in.entry(id_key) {
            std::collections::hash_map::Entry::Occupied(o) if *o.get() != t.statement => {
                duplicates += 1;
                continue;
            }
            std::collections::hash_map::Entry::Occupied(_) => {}
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(t.statement);
            }
        }
        let own_account = match account {
            Some(a) => Some(a.to_string()),
            None => t.file_account.take(),
        };
        let concepto = t.concepto.take().or_else(|| {
            let refs: Vec<&str> = t.other_refs.iter().map(String::as_str).collect();
            (!refs.is_empty()).then(|| refs.join(" "))
        });
        entries.push(Entry {
            span: t.span.clone(),
            line: t.line,
            record: PaymentRecord {
                kind,
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
                referencia_numerica: t.referencia_numerica,
                concepto,
                document_id: None,
                operation_number: None,
                remittance: t.remittance,
                customer_hint: None,
                status: t.status,
            },
        });
    }
    Parsed {
        entries,
        problems,
        duplicates,
    }
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
    use std::io::Write as _;
    out.clear();
    out.extend_from_slice(account.as_bytes());
    out.push(0x1f);
    let d = t.booked_on;
    if (0..=9999).contains(&d.year()) {
        let _ = write!(out, "{:04}-{:02}-{:02}", d.year(), d.month(), d.day());
    } else {
        let _ = write!(out, "{}", d.format("%Y-%m-%d"));
    }
    out.push(0x1f);
    let _ = write!(out, "{}", t.amount.amount().normalize());
    out.push(0x1f);
    let _ = write!(out, "{}", t.amount.currency());
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
