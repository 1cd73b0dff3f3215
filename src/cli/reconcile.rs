//! `cuadra reconcile`, `match` and `unmatch`: the engine now, and the manual decisions, through the use cases the
//! admin API shares.

use crate::app::{App, MatchError, MatchLine, MatchRequest};

pub(super) async fn reconcile(app: &App, dry_run: bool) -> anyhow::Result<i32> {
    let summary = app.reconcile(dry_run).await?;
    println!("{}", summary.line());
    Ok(0)
}

/// Who a manual decision is recorded as.
fn actor() -> String {
    let user = std::env::var("USER").unwrap_or_default();
    if user.is_empty() {
        "cli".to_string()
    } else {
        format!("cli:{user}")
    }
}

/// `match PAYMENT INVOICE[=AMOUNT]...`: each argument is an invoice reference, optionally `=` an amount.
pub(super) async fn manual_match(app: &App, payment: i64, args: &[String]) -> anyhow::Result<i32> {
    let request = MatchRequest {
        payment_id: payment,
        invoices: args
            .iter()
            .map(|a| match a.split_once('=') {
                Some((invoice, amount)) => MatchLine {
                    invoice: invoice.to_string(),
                    amount: Some(amount.to_string()),
                },
                None => MatchLine {
                    invoice: a.clone(),
                    amount: None,
                },
            })
            .collect(),
    };
    match app.manual_match(&request, &actor()).await {
        Ok(m) => {
            let ids: Vec<String> = m.allocation_ids.iter().map(|i| i.to_string()).collect();
            println!("payment {payment}: allocations {} created", ids.join(", "));
            for a in m.aliases_learned {
                println!("learned: {a}");
            }
            Ok(0)
        }
        Err(MatchError::Amount { line, .. }) => {
            eprintln!(
                "error: {}: expected INVOICE=AMOUNT with a positive decimal amount",
                args[line]
            );
            Ok(2)
        }
        Err(MatchError::InvoiceNotFound { invoice, .. }) => {
            eprintln!("error: invoice {invoice}: not found (give its UUID, SERIE-FOLIO or folio)");
            Ok(2)
        }
        Err(MatchError::Lookup(e) | MatchError::Refused(e)) => {
            eprintln!("error: {e:#}");
            Ok(2)
        }
    }
}

pub(super) async fn unmatch(app: &App, allocation: i64) -> anyhow::Result<i32> {
    match app.unmatch(allocation, &actor()).await {
        Ok(()) => {
            println!(
                "allocation {allocation} removed; the engine will not propose that pair again"
            );
            Ok(0)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            Ok(2)
        }
    }
}
