//! Returns and reversals (before every other pass): a debit that undoes an earlier credit (a returned SPEI, a
//! camt `RvslInd` entry, an MT940 `RC` mark, a `DEVOLUCION` row: status `reversal`) or a provider refund or
//! chargeback (`refunded`, `dispute_funds_withdrawn`; `dispute_funds_reinstated` gives the money back) is linked to
//! the one credit it names — the same clave de rastreo, or for providers the same charge id — never to a credit
//! it does not name. The credit's usable amount is its amount less its reversals; when that no longer covers its
//! allocations they are removed and it is decided again with what is left (nothing, for a full return). A
//! reversal that names no credit, or several, or one too small, is an exception for a person.

use super::index::{Map, Set};
use crate::model::reconcile::{Decision, ExceptionOut, Input, PaymentIn, Reversal};
use cuadra_sdk::format_micros as money;

/// The statuses of movements that undo (or, reinstated, redo) a credit.
fn undoes(p: &PaymentIn) -> bool {
    match p.status.as_deref() {
        Some("reversal" | "refunded" | "dispute_funds_withdrawn") => p.amount < 0,
        Some("dispute_funds_reinstated") => p.amount > 0,
        _ => false,
    }
}

/// A credit that is itself a reversal of a debit (MT940 `RD`, a camt `CRDT` with `RvslInd`): money back of a
/// payment the company made, not a customer's payment.
pub(super) fn reverses_a_debit(p: &PaymentIn) -> bool {
    p.amount > 0 && p.status.as_deref() == Some("reversal")
}

/// The references a return's text names (`RTRN 0213871300000000080`): tokens of 10 or more letters and digits
/// with at least 6 digits. Only the text, never the return's own bank reference (a bank's running number could
/// equal an old credit's). A credit whose clave de rastreo or bank reference is one of them is the one it undoes.
fn named_refs(r: &PaymentIn) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in r
        .concepto
        .as_deref()
        .unwrap_or_default()
        .split(|c: char| !c.is_ascii_alphanumeric())
    {
        let digits = t.bytes().filter(u8::is_ascii_digit).count();
        if t.len() >= 10 && digits >= 6 {
            let t = t.to_ascii_uppercase();
            if !out.contains(&t) {
                out.push(t);
            }
        }
    }
    out
}

fn key(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(|s| s.trim().to_ascii_uppercase())
        .filter(|s| !s.is_empty())
}

/// What the returns pass leaves the other passes: per credit, what of it was undone (micro-units), and the
/// credits whose allocations are removed in this run.
#[derive(Default)]
pub(super) struct Undone {
    pub(super) by_credit: Map<i64, i64>,
    pub(super) cleared: Set<i64>,
    /// Reversal movements (decided here: never matched to invoices).
    pub(super) movements: Set<i64>,
}

/// Links the reversals not linked yet to their credits (into `out.reversals`, or `out.exceptions`), and returns
/// what every credit has had undone so far.
pub(super) fn link_returns(input: &Input, out: &mut Decision) -> Undone {
    let mut u = Undone::default();
    let linked: Set<i64> = input
        .reversals
        .iter()
        .map(|r| r.reversal_payment_id)
        .collect();
    for r in &input.reversals {
        *u.by_credit.entry(r.payment_id).or_default() += r.amount;
    }
    let mut todo: Vec<&PaymentIn> = input.payments.iter().filter(|p| undoes(p)).collect();
    u.movements.extend(todo.iter().map(|p| p.id));
    todo.retain(|p| !linked.contains(&p.id));
    if todo.is_empty() {
        return u;
    }
    // Content order (dates, kinds, ids), so that two partial returns of one credit link the same way whatever
    // order they arrived in.
    todo.sort_by(|a, b| {
        (a.booked_on, &a.kind, &a.external_id).cmp(&(b.booked_on, &b.kind, &b.external_id))
    });
    // The credits' look-ups, only for the keys the reversals name (one pass over the payments).
    let claves: Set<String> = todo.iter().filter_map(|p| key(&p.clave_rastreo)).collect();
    let docs: Set<String> = todo.iter().filter_map(|p| key(&p.document_id)).collect();
    let texts: Set<String> = todo
        .iter()
        .filter(|p| key(&p.clave_rastreo).is_none() && key(&p.document_id).is_none())
        .flat_map(|p| named_refs(p))
        .collect();
    let mut by_clave: Map<String, Vec<&PaymentIn>> = Map::default();
    let mut by_doc: Map<String, Vec<&PaymentIn>> = Map::default();
    let mut by_text: Map<String, Vec<&PaymentIn>> = Map::default();
    for c in input.payments.iter().filter(|c| c.amount > 0 && !undoes(c)) {
        if !texts.is_empty() {
            for k in [key(&c.clave_rastreo), key(&c.bank_reference)]
                .into_iter()
                .flatten()
                .filter(|k| texts.contains(k))
            {
                let v = by_text.entry(k).or_default();
                if !v.iter().any(|x| x.id == c.id) {
                    v.push(c);
                }
            }
        }
        if let Some(k) = key(&c.clave_rastreo).filter(|k| claves.contains(k)) {
            by_clave.entry(k).or_default().push(c);
        }
        if c.kind == "provider" {
            for k in [key(&c.document_id), key(&Some(c.external_id.clone()))]
                .into_iter()
                .flatten()
                .filter(|k| docs.contains(k))
            {
                let v = by_doc.entry(k).or_default();
                if !v.iter().any(|x| x.id == c.id) {
                    v.push(c);
                }
            }
        }
    }
    for r in todo {
        let undo = -r.amount; // a return undoes a positive amount; a reinstatement a negative one
        let (named, how): (Vec<&PaymentIn>, String) = if let Some(k) = key(&r.clave_rastreo) {
            (
                by_clave.get(&k).cloned().unwrap_or_default(),
                format!("clave de rastreo {k}"),
            )
        } else if let Some(k) = key(&r.document_id) {
            (
                by_doc.get(&k).cloned().unwrap_or_default(),
                format!("provider id {k}"),
            )
        } else if let Some((k, named)) = named_refs(r).into_iter().find_map(|k| {
            // Credits booked after the return cannot be what it returns.
            let v: Vec<&PaymentIn> = by_text
                .get(&k)?
                .iter()
                .copied()
                .filter(|c| c.booked_on <= r.booked_on)
                .collect();
            (!v.is_empty()).then_some((k, v))
        }) {
            (named, format!("reference {k} (named in the return's text)"))
        } else {
            out.exceptions.push(ExceptionOut {
                    payment_id: r.id,
                    reason: "return_unlinked: the return names no clave de rastreo or provider id; which credit it \
                             undoes is for a person to decide"
                        .into(),
                    candidates: serde_json::json!([]),
                });
            continue;
        };
        let fits: Vec<&PaymentIn> = named
            .iter()
            .copied()
            .filter(|c| c.currency == r.currency)
            .filter(|c| {
                let left = c.amount - u.by_credit.get(&c.id).copied().unwrap_or(0);
                undo <= left && left - undo <= c.amount
            })
            .collect();
        let cands = || {
            serde_json::Value::Array(
                named
                    .iter()
                    .map(|c| {
                        serde_json::json!({
                            "payment_id": c.id,
                            "date": c.booked_on.to_string(),
                            "amount": money(c.amount, &c.currency),
                            "why": format!("same {how}"),
                        })
                    })
                    .collect(),
            )
        };
        let reason = match fits.as_slice() {
            [c] => {
                let c = *c;
                let before = u.by_credit.get(&c.id).copied().unwrap_or(0);
                let left = c.amount - before - undo;
                *u.by_credit.entry(c.id).or_default() += undo;
                let clear = c.allocated > left;
                if clear {
                    u.cleared.insert(c.id);
                }
                let what = if undo < 0 {
                    format!("gives back {} of", money(-undo, &r.currency))
                } else if left == 0 {
                    format!("returns all {} of", money(undo, &r.currency))
                } else {
                    format!(
                        "returns {} of the {} of",
                        money(undo, &r.currency),
                        money(c.amount, &c.currency)
                    )
                };
                out.reversals.push(Reversal {
                    reversal_payment_id: r.id,
                    payment_id: c.id,
                    amount: undo,
                    remove_allocations: clear,
                    explanation: format!(
                        "payment {} ({} {}) {what} payment {} of {} by the same {how}; {} left to apply",
                        r.id,
                        r.status.as_deref().unwrap_or("reversal"),
                        r.booked_on,
                        c.id,
                        c.booked_on,
                        money(left, &c.currency)
                    ),
                });
                continue;
            }
            [] if named.is_empty() => format!(
                "return_unlinked: no credit with {how} is in the ledger yet; it is linked when the credit arrives"
            ),
            [] => format!(
                "return_unlinked: the credits with {how} are in another currency or smaller than the {} returned",
                money(undo.abs(), &r.currency)
            ),
            _ => format!(
                "ambiguous_return: {} credits carry {how}; which one it undoes is for a person to decide",
                fits.len()
            ),
        };
        out.exceptions.push(ExceptionOut {
            payment_id: r.id,
            reason,
            candidates: cands(),
        });
    }
    u
}
