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
use crate::text::norm_key;
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
    let mut seen_in: HashMap<u128, usize> = HashMap::with_capacity(txns.len());
    let mut occurrences: HashMap<(usize, u128), usize> = HashMap::with_capacity(txns.len());
    let mut entries = Vec::with_capacity(txns.len());
    let mut duplicates = 0;
    for mut t in txns {
        mx::enrich(&mut t);
        let id_account = t
            .file_account
            .as_deref()
            .or(account)
            .map(norm_key)
            .unwrap_or_default();
        let (base, hashed) = match &t.unique_ref {
            Some(UniqueRef::Uetr(u)) => (format!("uetr:{}", u.trim().to_ascii_lowercase()), false),
            Some(UniqueRef::AcctSvcrRef(r)) => (format!("asr:{id_account}:{}", r.trim()), false),
            Some(UniqueRef::Fitid(r)) => (format!("fitid:{id_account}:{}", r.trim()), false),
            Some(UniqueRef::Rastreo(r)) => (
                format!("rastreo:{}:{}", t.booked_on.format("%Y%m%d"), r.trim()),
                false,
            ),
            Some(UniqueRef::RowId(r)) => (format!("row:{id_account}:{}", r.trim()), false),
            None => (tuple_key(&t, &id_account), true),
        };
        let base = match t.part {
            Some(i) if !hashed => format!("{base}/{i}"),
            _ => base,
        };
        let n = occurrences.entry((t.statement, key128(&base))).or_insert(0);
        let index = *n;
        *n += 1;
        let id = if hashed {
            let mut h = Sha256::new();
            h.update(base.as_bytes());
            h.update(format!("\x1f{index}").as_bytes());
            format!("h:{}", hex::encode(&h.finalize()[..16]))
        } else if index > 0 {
            format!("{base}#{}", index + 1)
        } else {
            base
        };
        match seen_in.entry(key128(&id)) {
            std::collections::hash_map::Entry::Occupied(o) if *o.get() != t.statement => {
                duplicates += 1;
                continue;
            }
            std::collections::hash_map::Entry::Occupied(_) => {}
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(t.statement);
            }
        }
        let own_account = account.map(str::to_string).or(t.file_account.clone());
        let concepto = t.concepto.clone().or_else(|| {
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
fn key128(s: &str) -> u128 {
    use std::hash::{BuildHasher, Hasher};
    let a = std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default();
    let mut h1 = a.build_hasher();
    h1.write(s.as_bytes());
    let mut h2 = a.build_hasher();
    h2.write_u8(0x5a);
    h2.write(s.as_bytes());
    (u128::from(h1.finish()) << 64) | u128::from(h2.finish())
}

/// The normalized tuple hashed for `h:` ids (occurrence index added by the caller).
fn tuple_key(t: &Txn, account: &str) -> String {
    let opt = |o: &Option<String>| o.as_deref().map(norm_key).unwrap_or_default();
    let others: Vec<String> = t.other_refs.iter().map(|r| norm_key(r)).collect();
    [
        account.to_string(),
        t.booked_on.format("%Y-%m-%d").to_string(),
        t.amount.amount().normalize().to_string(),
        t.amount.currency().to_string(),
        opt(&t.bank_reference),
        opt(&t.clave_rastreo),
        opt(&t.referencia_numerica),
        others.join("|"),
        opt(&t.payer_name),
        opt(&t.payer_account),
        opt(&t.concepto),
    ]
    .join("\x1f")
}
