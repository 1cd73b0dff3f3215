//! The driver: builds the invoices' and customers' look-ups and identifies payers on the cores there are, then runs
//! the passes in order (same money, remittance, references, amounts), handing the decision over as it becomes
//! final. Pure: [`decide`] reads an [`Input`] and returns a [`Decision`].

use super::context::Ctx;
use super::index::{sorted_invoices, InvoiceSide, Map};
use super::payers::{Customers, Payer};
use super::returns::{link_returns, reverses_a_debit};
use super::same_money::same_money;
use super::text::{self, Fragment};
use crate::model::reconcile::{Decision, ExceptionOut, Input, Options, PaymentIn};

fn sort_key_payment(p: &PaymentIn) -> (chrono::NaiveDate, &str, &str) {
    (p.booked_on, p.kind.as_str(), p.external_id.as_str())
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
    let mut out = Decision::default();
    // Returns first: what is left of each returned credit is what the passes below may apply.
    let undone = link_returns(input, &mut out);
    let left: Vec<PaymentIn> = input
        .payments
        .iter()
        .filter(|p| p.amount > 0)
        .filter_map(|p| {
            let gone = undone.by_credit.get(&p.id).copied().filter(|&x| x != 0)?;
            let mut q = p.clone();
            q.amount -= gone;
            if undone.cleared.contains(&p.id) {
                q.allocated = 0;
                q.manual = false;
            }
            Some(q)
        })
        .collect();
    let left_by_id: Map<i64, &PaymentIn> = left.iter().map(|p| (p.id, p)).collect();
    let mut payments: Vec<&PaymentIn> = if left.is_empty() && undone.movements.is_empty() {
        input.payments.iter().filter(|p| p.amount > 0).collect()
    } else {
        input
            .payments
            .iter()
            .filter(|p| p.amount > 0 && !undone.movements.contains(&p.id))
            .map(|p| left_by_id.get(&p.id).copied().unwrap_or(p))
            .filter(|p| p.amount > 0)
            .collect()
    };
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
    pending.retain(|p| {
        if !reverses_a_debit(p) {
            return true;
        }
        out.exceptions.push(ExceptionOut {
            payment_id: p.id,
            reason: "not_receivable: a reversal of an earlier debit (MT940 RD, camt RvslInd), not a customer's payment"
                .into(),
            candidates: serde_json::json!([]),
        });
        false
    });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::reconcile::{CustomerIn, InvoiceIn};
    use chrono::NaiveDate;

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
            replaces: vec![],
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
            status: None,
            document_id: None,
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
            reversals: vec![],
            paid: vec![],
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
}
