//! The command line (clap). Exit codes: 0 success, 1 failure of the operation, 2 bad usage or bad input.

use crate::app::App;
use crate::config::Settings;
use crate::output::{self, Format};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "cuadra",
    version,
    about = "Keeps a Mexican company's accounts receivable true"
)]
pub struct Cli {
    /// Configuration file (TOML); defaults are embedded, `CUADRA__SECTION__KEY` variables override.
    #[arg(long, global = true, env = "CUADRA_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: HTTP, scheduled connectors, the inbox folder.
    Run,
    /// Apply database migrations.
    Migrate,
    /// Import files.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Print a report.
    Report(ReportArgs),
    /// Run one configured connector (or all of them) once, now.
    Sync {
        /// Connector name as configured in `[connectors.NAME]`.
        connector: Option<String>,
    },
    /// Check configuration, database and connectors.
    Doctor,
    /// What is waiting to go to the ERP and other sinks.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Match every undecided payment with the invoices it pays; prints what it did.
    Reconcile {
        /// Decide and print, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// A manual decision: PAYMENT (id from `report payments`) pays these invoices (UUID, SERIE-FOLIO or folio,
    /// optionally `=AMOUNT`; without an amount, as much as both allow).
    Match {
        payment: i64,
        #[arg(required = true, value_name = "INVOICE[=AMOUNT]")]
        invoices: Vec<String>,
    },
    /// Remove an allocation (id from `report allocations`); the engine will not propose that pair again.
    Unmatch { allocation: i64 },
    /// Print a delivery from the raw inbox exactly as it was delivered: KEY is a raw id (as in `report conflicts`)
    /// or an external id (a CFDI's UUID, a statement's or event's id). Of several deliveries under one id, the
    /// first received of the CFDI (else of the kind given, else of any kind).
    Raw {
        key: String,
        /// Only deliveries of this kind (`cfdi`, `sat-metadata`, `camt053`, `stripe`, ...).
        #[arg(long)]
        kind: Option<String>,
        /// List every delivery kept under KEY (id, source, kind, SHA-256, size) instead of printing one.
        #[arg(long)]
        list: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// List messages (all, or one state: pending, delivered, dead, dropped).
    List {
        #[arg(long)]
        state: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Put a dead or pending message back in the queue now.
    Retry { id: i64 },
    /// Give up on a dead or pending message.
    Drop { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Customer master, CSV or XLSX.
    Customers { file: PathBuf },
    /// CFDI XML files, SAT .zip packages, SAT metadata files, or folders of them.
    Cfdi {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Bank statements (camt.053/054, MT940, OFX, CSV, CEP).
    Statement {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// auto, camt053, camt054, camt052, mt940, ofx, csv, cep.
        #[arg(long, default_value = "auto")]
        format: String,
        /// One of the company's accounts as configured in `[accounts.NAME]`.
        #[arg(long)]
        account: Option<String>,
    },
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    #[arg(value_enum)]
    pub report: ReportKind,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Write to this file instead of standard output (`.xlsx` implies the xlsx format).
    #[arg(long)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ReportKind {
    Customers,
    Invoices,
    Payments,
    Allocations,
    /// Documents a person must look at (same identity with other content; ERP and CFDI disagreeing).
    Conflicts,
    Exceptions,
}

/// Parses the process arguments and runs the command.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return 1;
        }
    };
    runtime.block_on(run(cli))
}

/// Runs a parsed command; returns the exit code.
pub async fn run(cli: Cli) -> i32 {
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return 2;
        }
    };
    crate::telemetry::init(&settings.log.format, &settings.log.level);
    // Connector tables are checked before anything opens: a bad one is bad input (exit 2).
    if let Err(e) = crate::registry::build_connectors(&settings) {
        eprintln!("error: {e:#}");
        return 2;
    }
    match execute(cli.command, settings).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

async fn execute(command: Command, settings: Settings) -> anyhow::Result<i32> {
    if let Command::Migrate = command {
        let store = crate::store::Store::connect(&settings.database.url, 1).await?;
        store.migrate().await?;
        println!("migrations applied");
        return Ok(0);
    }
    let app = App::build(settings).await?;
    match command {
        Command::Migrate => Ok(0),
        Command::Run => {
            let _ = crate::metrics::handle();
            crate::daemon::run_until_signal(app).await?;
            Ok(0)
        }
        Command::Import(ImportCommand::Customers { file }) => import_customers(&app, &file).await,
        Command::Import(ImportCommand::Cfdi { paths }) => {
            import_family(&app, "cfdi", &paths, cuadra_sdk::ImportOptions::default()).await
        }
        Command::Import(ImportCommand::Statement {
            paths,
            format,
            account,
        }) => {
            let account = match account {
                None => None,
                Some(name) => {
                    match app.settings.accounts.get(&name) {
                        Some(a) => Some(a.number.clone()),
                        None => {
                            eprintln!("error: --account {name}: no [accounts.{name}] in the configuration");
                            return Ok(2);
                        }
                    }
                }
            };
            let format = (format != "auto").then_some(format);
            import_family(
                &app,
                "statement",
                &paths,
                cuadra_sdk::ImportOptions { format, account },
            )
            .await
        }
        Command::Report(args) => {
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
        Command::Sync { connector } => sync(&app, connector.as_deref()).await,
        Command::Doctor => doctor(&app).await,
        Command::Outbox(cmd) => outbox(&app, cmd).await,
        Command::Reconcile { dry_run } => {
            let options = crate::reconcile::Options::from_settings(&app.settings)?;
            if !dry_run {
                app.store.link_documents().await?;
            }
            let summary = crate::reconcile::run(&app.store, &options, dry_run).await?;
            println!("{}", summary.line());
            Ok(0)
        }
        Command::Match { payment, invoices } => manual_match(&app, payment, &invoices).await,
        Command::Raw { key, kind, list } => raw(&app, &key, kind.as_deref(), list).await,
        Command::Unmatch { allocation } => {
            match app.store.unmatch(allocation, &actor()).await {
                Ok(()) => {
                    println!("allocation {allocation} removed; the engine will not propose that pair again");
                    Ok(0)
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    Ok(2)
                }
            }
        }
    }
}

async fn raw(app: &App, key: &str, kind: Option<&str>, list: bool) -> anyhow::Result<i32> {
    use std::io::Write as _;
    let mut found = app.store.raw_deliveries(key).await?;
    found.retain(|r| kind.is_none_or(|k| r.kind == k));
    // A CFDI's UUID also names its SAT metadata line: the document comes first.
    found.sort_by_key(|r| (r.kind != "cfdi", r.id));
    let Some(first) = found.first() else {
        let of = kind.map(|k| format!(" of kind {k}")).unwrap_or_default();
        eprintln!("error: nothing in the raw inbox{of} under {key:?} (a raw id or an external id)");
        return Ok(2);
    };
    if list {
        println!("id\tsource\tkind\texternal_id\tsha256\treceived_at\tbytes");
        for r in &found {
            println!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                r.id,
                r.source,
                r.kind,
                r.external_id,
                r.sha256,
                r.received_at,
                r.body.len()
            );
        }
        return Ok(0);
    }
    if found.len() > 1 {
        let others: Vec<String> = found[1..]
            .iter()
            .map(|r| format!("{} ({})", r.id, r.kind))
            .collect();
        eprintln!(
            "{} deliveries under {key}; printing raw {} ({}, the first received); the others: {}",
            found.len(),
            first.id,
            first.kind,
            others.join(", ")
        );
    }
    let mut out = std::io::stdout().lock();
    out.write_all(&first.body)?;
    out.flush()?;
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

async fn manual_match(app: &App, payment: i64, args: &[String]) -> anyhow::Result<i32> {
    let mut lines = Vec::new();
    for a in args {
        let (inv, amount) = match a.split_once('=') {
            Some((i, m)) => {
                let micros = cuadra_sdk::parse_decimal(m.trim())
                    .ok()
                    .and_then(|d| cuadra_sdk::to_micros(d).ok())
                    .filter(|m| *m > 0);
                match micros {
                    Some(m) => (i, Some(m)),
                    None => {
                        eprintln!(
                            "error: {a}: expected INVOICE=AMOUNT with a positive decimal amount"
                        );
                        return Ok(2);
                    }
                }
            }
            None => (a.as_str(), None),
        };
        match app.store.find_invoice_ref(inv).await {
            Ok(Some(id)) => lines.push((id, amount)),
            Ok(None) => {
                eprintln!("error: invoice {inv}: not found (give its UUID, SERIE-FOLIO or folio)");
                return Ok(2);
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                return Ok(2);
            }
        }
    }
    match app.store.manual_match(payment, &lines, &actor()).await {
        Ok(m) => {
            let ids: Vec<String> = m.allocation_ids.iter().map(|i| i.to_string()).collect();
            println!("payment {payment}: allocations {} created", ids.join(", "));
            for a in m.aliases_learned {
                println!("learned: {a}");
            }
            Ok(0)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            Ok(2)
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
    let Some(importer) = app
        .file_importers()
        .into_iter()
        .find(|i| i.family() == family)
    else {
        anyhow::bail!("no importer for {family}");
    };
    if let Err(e) = crate::import::expand(paths) {
        eprintln!("error: {e:#}");
        return Ok(2);
    }
    // The paths as given, so that files found inside folders are told apart from files named explicitly.
    let summary = crate::import::import_paths(&app.store, importer, paths, &opts, "import").await?;
    Ok(crate::import::print_summary(&summary, false))
}

async fn outbox(app: &App, cmd: OutboxCommand) -> anyhow::Result<i32> {
    match cmd {
        OutboxCommand::List {
            state,
            format,
            output,
        } => {
            let rows = app.store.outbox_list(state.as_deref()).await?;
            let table = crate::store::Table {
                columns: crate::store::OUTBOX_COLUMNS.to_vec(),
                rows: rows
                    .into_iter()
                    .map(|r| {
                        vec![
                            r.id.to_string(),
                            r.connector,
                            r.event_type,
                            r.ordering_key,
                            r.state,
                            r.attempts.to_string(),
                            r.next_attempt_at,
                            r.last_error.unwrap_or_default(),
                            r.created_at,
                        ]
                    })
                    .collect(),
            };
            output::write(&table, format, output.as_deref())?;
            Ok(0)
        }
        OutboxCommand::Retry { id } => {
            if app.store.outbox_retry(id).await? {
                println!("outbox message {id} queued again");
                Ok(0)
            } else {
                eprintln!("error: no dead or pending outbox message {id}");
                Ok(2)
            }
        }
        OutboxCommand::Drop { id } => {
            if app.store.outbox_drop(id).await? {
                println!("outbox message {id} dropped");
                Ok(0)
            } else {
                eprintln!("error: no dead or pending outbox message {id}");
                Ok(2)
            }
        }
    }
}

async fn sync(app: &App, name: Option<&str>) -> anyhow::Result<i32> {
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

async fn doctor(app: &App) -> anyhow::Result<i32> {
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
