//! `cuadra sync` (run configured connectors once, now) and `cuadra doctor` (configuration, database, connectors).

use crate::app::App;

pub(super) async fn sync(app: &App, name: Option<&str>) -> anyhow::Result<i32> {
    let targets: Vec<_> = match name {
        Some(n) => match app.connector(n) {
            Some(c) => vec![c.clone()],
            None => {
                eprintln!("error: no connector named {n} in [connectors]");
                return Ok(2);
            }
        },
        None => app
            .connectors()
            .iter()
            .filter(|c| c.source.is_some())
            .cloned()
            .collect(),
    };
    let mut code = 0;
    for c in targets {
        match crate::daemon::run_source_once(app, &c).await {
            Ok(r) => {
                println!(
                    "{}: {} deliveries ({} new) in {} batches",
                    c.name, r.deliveries, r.new, r.batches
                );
                if let Some(kind) = c.of_kind {
                    if let Some(cp) = app.store.checkpoint(&c.name).await? {
                        for line in kind.describe(&cuadra_sdk::Checkpoint(cp)) {
                            println!("{line}");
                        }
                    }
                }
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                code = 1;
            }
        }
    }
    Ok(code)
}

pub(super) async fn doctor(app: &App) -> anyhow::Result<i32> {
    let mut failed = false;
    println!(
        "ok    config: loaded ({} connectors)",
        app.connectors().len()
    );
    if app.settings.company.rfcs.is_empty() {
        println!("warn  company.rfcs is empty: no CFDI will count as receivables");
    }
    match app.store.ready().await {
        Ok(()) => println!(
            "ok    database: {} reachable, migrations applied",
            match app.store.backend() {
                crate::store::Backend::Sqlite => "SQLite",
                crate::store::Backend::Postgres => "PostgreSQL",
            }
        ),
        Err(e) => {
            println!("fail  database: {e:#}");
            failed = true;
        }
    }
    for (name, c) in &app.settings.connectors {
        let d = crate::registry::doctor(&app.settings, name, c, app.store.now());
        for l in d.lines {
            println!("{l}");
        }
        failed |= !d.ok;
    }
    for t in ["customers", "invoices", "payments", "allocations", "outbox"] {
        if let Ok(n) = app.store.count(t).await {
            println!("ok    {t}: {n}");
        }
    }
    Ok(if failed { 1 } else { 0 })
}
