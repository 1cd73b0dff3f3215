//! `cuadra import customers|cfdi|statement`: files into the ledger, with a summary of what was new.

use super::ImportCommand;
use crate::app::{App, ImportError};
use std::path::PathBuf;

pub(super) async fn import(app: &App, command: ImportCommand) -> anyhow::Result<i32> {
    match command {
        ImportCommand::Customers { file } => import_customers(app, &file).await,
        ImportCommand::Cfdi { paths } => {
            import_family(app, "cfdi", &paths, cuadra_sdk::ImportOptions::default()).await
        }
        ImportCommand::Statement {
            paths,
            format,
            account,
        } => {
            let account = match account {
                None => None,
                Some(name) => match app.settings.accounts.get(&name) {
                    Some(a) => Some(a.number.clone()),
                    None => {
                        eprintln!(
                            "error: --account {name}: no [accounts.{name}] in the configuration"
                        );
                        return Ok(2);
                    }
                },
            };
            let format = (format != "auto").then_some(format);
            import_family(
                app,
                "statement",
                &paths,
                cuadra_sdk::ImportOptions { format, account },
            )
            .await
        }
    }
}

async fn import_customers(app: &App, file: &std::path::Path) -> anyhow::Result<i32> {
    if !file.exists() {
        eprintln!("error: {}: no such file", file.display());
        return Ok(2);
    }
    let parsed = match crate::customers::parse_file(file) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(2);
        }
    };
    for e in &parsed.errors {
        eprintln!("error: {e}");
    }
    let mut changed = 0;
    if !parsed.rows.is_empty() {
        let d = crate::customers::delivery(file, &parsed)?;
        let outcomes = app.store.ingest("import", &[d], None).await?;
        changed = usize::from(outcomes.first() == Some(&crate::store::IngestOutcome::New));
    }
    println!(
        "{}: {} customers kept, {} rows skipped{}",
        file.display(),
        parsed.rows.len(),
        parsed.errors.len(),
        if changed == 0 && !parsed.rows.is_empty() {
            " (no changes)"
        } else {
            ""
        }
    );
    Ok(if parsed.errors.is_empty() { 0 } else { 2 })
}

async fn import_family(
    app: &App,
    family: &str,
    paths: &[PathBuf],
    opts: cuadra_sdk::ImportOptions,
) -> anyhow::Result<i32> {
    match app.import(family, paths, &opts, "import").await {
        Ok(summary) => Ok(crate::import::print_summary(&summary, false)),
        Err(ImportError::Input(e)) => {
            eprintln!("error: {e:#}");
            Ok(2)
        }
        Err(ImportError::Failed(e)) => Err(e),
    }
}
