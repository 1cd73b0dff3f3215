//! The reconciliation run, the one place that sees both the engine and the store: it takes the lease, loads the
//! ledger while payers are identified from the master, decides, and streams the decision to the store's writer as
//! it becomes final. Data goes one way: store (load) → engine (decide) → store (write).

use super::decide::decide_early;
use super::payers::Customers;
use crate::model::reconcile::{Decision, Input, Options, Summary};
use crate::store::{DecisionPart, Store};
use anyhow::Context;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

impl Options {
    pub fn from_settings(settings: &crate::config::Settings) -> anyhow::Result<Options> {
        Ok(Options {
            tolerance: settings.reconcile.tolerance_micros()?,
            prepayment_days: i64::from(settings.reconcile.prepayment_days),
            own_accounts: settings
                .accounts
                .values()
                .map(|a| crate::store::normalize_account(&a.number))
                .collect(),
            ..Options::default()
        })
    }
}

/// Loads, decides and (unless `dry_run`) writes: the one entry point for the CLI, the daemon and benchmarks.
///
/// The write transaction begins as soon as the engine knows payers and same-money links, and writes them while
/// the engine's allocation passes run (one core each); allocations and exceptions follow, and all of it commits
/// at once.
///
/// Runs that write are serialized across tasks, processes and instances by the lease `reconcile` (a run waits for
/// the one before it): two runs that read the same ledger would both decide, and both write, the same allocations.
pub async fn run(store: &Store, options: &Options, dry_run: bool) -> anyhow::Result<Summary> {
    if dry_run {
        return run_held(store, options, true).await;
    }
    let holder = format!("{}-{}", std::process::id(), uuid::Uuid::now_v7().simple());
    let held = store.wait_for_lease("reconcile", &holder).await?;
    let mut run = run_held(store, options, false).await;
    // Returns removed allocations: the invoices they paid are open again, which this run's passes could not see
    // (they read the balances before). One more run decides with them (another payment citing such an invoice in
    // the same import pays it instead of looking like its duplicate).
    if let Ok(first) = &run {
        if first.allocations_returned > 0 {
            let first = first.clone();
            run = run_held(store, options, false)
                .await
                .map(|second| first.then(second));
        }
    }
    held.release().await;
    run
}

impl Summary {
    /// Two consecutive runs as one: what both wrote, what the second left.
    fn then(self, second: Summary) -> Summary {
        let mut by_method = self.by_method;
        for (m, n) in second.by_method {
            *by_method.entry(m).or_default() += n;
        }
        Summary {
            allocations: self.allocations + second.allocations,
            payments_allocated: self.payments_allocated + second.payments_allocated,
            same_money_links: self.same_money_links + second.same_money_links,
            allocations_replaced: self.allocations_replaced + second.allocations_replaced,
            reversals: self.reversals + second.reversals,
            allocations_returned: self.allocations_returned + second.allocations_returned,
            by_method,
            load_ms: self.load_ms + second.load_ms,
            decide_ms: self.decide_ms + second.decide_ms,
            write_ms: self.write_ms + second.write_ms,
            ..second
        }
    }
}

async fn run_held(store: &Store, options: &Options, dry_run: bool) -> anyhow::Result<Summary> {
    let t0 = Instant::now();
    let (input, master) = load(store).await?;
    let load_ms = t0.elapsed().as_millis();
    let t1 = Instant::now();
    let options = options.clone();
    // In a dry run nobody receives: what is sent is dropped.
    let (parts, received) = tokio::sync::mpsc::unbounded_channel::<DecisionPart>();
    let engine_parts = parts.clone();
    let engine = tokio::task::spawn_blocking(move || {
        let counts = (input.invoices.len(), input.payments.len());
        let (mut links_sent, mut allocations_sent) = (false, 0usize);
        let decision = decide_early(&input, &options, Some(master), &mut |d| {
            if !links_sent {
                links_sent = true;
                let _ = engine_parts.send(DecisionPart::LinksAndPayers(
                    d.links.clone(),
                    d.customers.clone(),
                    d.reversals.clone(),
                ));
            }
            if d.allocations.len() > allocations_sent {
                let _ = engine_parts.send(DecisionPart::Allocations(
                    d.allocations[allocations_sent..].to_vec(),
                ));
                allocations_sent = d.allocations.len();
            }
        });
        (counts, decision)
    });
    let decided = async move {
        let (counts, decision) = engine.await.context("the reconciliation engine panicked")?;
        let s = summary(
            counts,
            &decision,
            dry_run,
            load_ms,
            t1.elapsed().as_millis(),
        );
        anyhow::Ok((decision, s))
    };
    let s = if dry_run {
        drop(received);
        decided.await?.1
    } else {
        // The last part is sent once the engine is done; if it fails, the parts end without it and the writer
        // writes nothing.
        let last = async move {
            let (decision, s) = decided.await?;
            let _ = parts.send(DecisionPart::Last(decision, s.by_method.clone()));
            anyhow::Ok(s)
        };
        let (written, decided) = tokio::join!(store.write_decision(received), last);
        let mut s = decided?;
        (s.allocations_replaced, s.allocations_returned) = written?;
        s.write_ms = t1.elapsed().as_millis().saturating_sub(s.decide_ms);
        s
    };
    tracing::debug!(
        load_ms = s.load_ms as u64,
        decide_ms = s.decide_ms as u64,
        write_ms = s.write_ms as u64,
        "reconcile phases"
    );
    Ok(s)
}

/// What a run decided, before writing.
fn summary(
    (invoices_open, payments_examined): (usize, usize),
    decision: &Decision,
    dry_run: bool,
    load_ms: u128,
    decide_ms: u128,
) -> Summary {
    let mut s = Summary {
        invoices_open,
        payments_examined,
        allocations: decision.allocations.len(),
        payments_allocated: decision
            .allocations
            .iter()
            .map(|a| a.payment_id)
            .collect::<HashSet<_>>()
            .len(),
        same_money_links: decision.links.len(),
        reversals: decision.reversals.len(),
        exceptions: decision.exceptions.len(),
        dry_run,
        load_ms,
        decide_ms,
        ..Summary::default()
    };
    for a in &decision.allocations {
        *s.by_method.entry(a.method.to_string()).or_default() += 1;
    }
    s
}

/// Loads the engine's input: the customer master first (small), whose look-ups are built on a core of their own
/// while the invoices and the payments are read on two connections (SQLite readers run in parallel under WAL);
/// once the payments are read, their payers are identified from the master on the cores the reading leaves, until
/// the invoices are read too (the engine keeps what the invoices cannot change).
async fn load(store: &Store) -> anyhow::Result<(Input, Customers)> {
    let t = Instant::now();
    let lap =
        |what: &str| tracing::debug!(what, ms = t.elapsed().as_millis() as u64, "reconcile load");
    let (customers, aliases) = store.reconcile_master().await?;
    lap("customers");
    let master = tokio::task::spawn_blocking(move || {
        let built = Customers::from_master(&customers, &aliases);
        (built, customers, aliases)
    });
    let stop = Arc::new(AtomicBool::new(false));
    let invoices_part = async {
        let read = store.reconcile_invoices().await;
        lap("invoices");
        stop.store(true, Ordering::Relaxed);
        read
    };
    let payers_part = async {
        let (payments, rejected) = store.reconcile_payments().await?;
        lap("payments");
        let (mut master, customers, aliases) = master
            .await
            .context("building the customers' look-ups panicked")?;
        lap("customers' look-ups");
        let stop = stop.clone();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        let (master, payments) = tokio::task::spawn_blocking(move || {
            master.identify_early(&payments, threads, &stop);
            (master, payments)
        })
        .await
        .context("identifying payers panicked")?;
        lap("payers identified from the master");
        anyhow::Ok((payments, rejected, master, customers, aliases))
    };
    let (inv, pay, reversals) =
        tokio::join!(invoices_part, payers_part, store.reconcile_reversals());
    let ((invoices, paid, invoice_names), (payments, rejected, master, customers, aliases)) =
        (inv?, pay?);
    Ok((
        Input {
            invoices,
            customers,
            aliases,
            payments,
            invoice_names,
            rejected,
            reversals: reversals?,
            paid,
        },
        master,
    ))
}
