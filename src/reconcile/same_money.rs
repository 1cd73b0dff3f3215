//! Pass 2, the same money seen twice: a bank credit and the REP, provider or SPEI record of one payment are linked
//! (`same_as_payment_id`) and the credit allocates nothing itself.

use super::index::{Map, Set};
use super::payers::Payer;
use super::text;
use crate::model::reconcile::{Decision, Options, PaymentIn, SameMoney};
use cuadra_sdk::format_micros as money;

fn kind_rank(kind: &str) -> u8 {
    match kind {
        "rep" => 0,
        "provider" => 1,
        "erp" => 2,
        "spei" => 3,
        _ => 4,
    }
}

/// Pass 2. Returns the payments now explained by another record.
pub(super) fn same_money(
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
