//! `cuadra report`: a report of the ledger as a table, CSV, JSON or XLSX.

use super::{ReportArgs, ReportKind};
use crate::app::App;
use crate::output;

pub(super) async fn report(app: &App, args: ReportArgs) -> anyhow::Result<i32> {
    let table = match args.report {
        ReportKind::Customers => app.store.report_customers().await?,
        ReportKind::Invoices => app.store.report_invoices().await?,
        ReportKind::Payments => app.store.report_payments().await?,
        ReportKind::Allocations => app.store.report_allocations().await?,
        ReportKind::Conflicts => app.store.report_conflicts().await?,
        ReportKind::Exceptions => app.store.report_exceptions().await?,
    };
    output::write(&table, args.format, args.output.as_deref())?;
    Ok(0)
}
