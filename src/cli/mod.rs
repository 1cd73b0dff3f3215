//! The command line (clap): the commands and their arguments, and the dispatch to one file per command group.
//! Exit codes: 0 success, 1 failure of the operation, 2 bad usage or bad input.
//!
//! - `import.rs`: `import customers|cfdi|statement`; `report.rs`: `report`; `outbox.rs`: `outbox list|retry|drop`.
//! - `reconcile.rs`: `reconcile`, `match`, `unmatch` (through the use cases on [`App`], shared with the API).
//! - `sync.rs`: `sync` and `doctor`; `raw.rs`: `raw`.

mod import;
mod outbox;
mod raw;
mod reconcile;
mod report;
mod sync;

use crate::app::App;
use crate::config::Settings;
use crate::output::Format;
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
    /// What a person must look at: same identity with other content (a document; a payment with another amount),
    /// ERP and CFDI disagreeing, webhooks refused with 400 (`rejected`), statements that do not add up.
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
    if !matches!(cli.command, Command::Run) {
        quiet_on_broken_pipe();
    }
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

/// A command whose output goes to a pipe that closes (`cuadra report invoices | head`) ends quietly, as Unix tools
/// do, instead of panicking in `println!` on EPIPE. Not for the daemon, which keeps ignoring SIGPIPE (its sockets
/// report a closed peer as an error).
fn quiet_on_broken_pipe() {
    // SAFETY: called once at start, before any thread is spawned; it only resets one signal's disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
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
        Command::Import(cmd) => import::import(&app, cmd).await,
        Command::Report(args) => report::report(&app, args).await,
        Command::Sync { connector } => sync::sync(&app, connector.as_deref()).await,
        Command::Doctor => sync::doctor(&app).await,
        Command::Outbox(cmd) => outbox::outbox(&app, cmd).await,
        Command::Reconcile { dry_run } => reconcile::reconcile(&app, dry_run).await,
        Command::Match { payment, invoices } => {
            reconcile::manual_match(&app, payment, &invoices).await
        }
        Command::Raw { key, kind, list } => raw::raw(&app, &key, kind.as_deref(), list).await,
        Command::Unmatch { allocation } => reconcile::unmatch(&app, allocation).await,
    }
}
