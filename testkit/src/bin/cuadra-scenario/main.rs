//! `cuadra-scenario`: the seeded scenario generator and the scorer for reconciliation (docs/scenario.md).
//!
//! * `generate --seed N --invoices N --out DIR` writes customers, CFDI (I, E rel 01, P with Pagos 2.0), camt.053
//!   statements with the noise real statements have, and `truth.json`; the same seed gives the same bytes.
//! * `score --truth DIR/truth.json --invoices invoices.json [--baseline]` compares `cuadra report invoices
//!   --format json` with the truth and exits 1 when a quality target is missed.
//!
//! Run it with `cargo run -p cuadra-testkit --bin cuadra-scenario -- generate ...`; tests and benches find it with
//! `cuadra_testkit::scenario::binary()`.
//!
//! Layout: `plan.rs` decides everything in memory, `noise.rs` holds names and their variants, `write.rs` streams
//! it to files, `zip.rs` writes SAT-style stored packages, `score.rs` scores and runs the baseline.

mod cases;
mod classes;
mod formats;
mod noise;
mod plan;
mod score;
mod write;
mod zip;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "cuadra-scenario",
    about = "Seeded reconciliation scenarios and their scorer"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Writes a scenario: customers.csv, cfdi/, statements/, truth.json.
    Generate {
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 1000)]
        invoices: u64,
        /// Number of customers (default: invoices / 10, at least 3).
        #[arg(long)]
        customers: Option<u64>,
        /// Number of bank credits (default: invoices / 5, at least 10).
        #[arg(long)]
        payments: Option<u64>,
        /// Shares of payment events, e.g. `exact=0.3,typo=0.1` (unnamed kinds keep their default share).
        /// Kinds: exact, reference, combined, partial, name_variant, third_party, typo, credit_note, usd, overlap,
        /// unrelated, and issue 19's classes (default 0): return, double, group, prepayment, substitute, refnum,
        /// folio_list.
        #[arg(long)]
        mix: Option<String>,
        /// Gives each of issue 19's seven classes this share (a kind named in --mix keeps the share given there).
        #[arg(long)]
        cases: Option<f64>,
        /// CFDI as `xml` files or `zip` packages (default: xml up to 2,000 documents, zip above).
        #[arg(long)]
        cfdi_format: Option<String>,
        /// Days each statement file covers (one file per company account and period).
        #[arg(long, default_value_t = 7)]
        statement_days: u16,
        /// `camt` (camt.053 files), or `mixed`: MXN periods rotate camt.053, MT940 (`.sta`) and the
        /// mx-normalizado CSV; USD stays camt.053.
        #[arg(long, default_value = "camt")]
        statement_format: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Compares `cuadra report invoices --format json` with the truth; exit 1 when a target is missed.
    Score {
        #[arg(long)]
        truth: PathBuf,
        /// The report (omit with --baseline to score only the baseline).
        #[arg(long)]
        invoices: Option<PathBuf>,
        /// Also score the baseline matcher (exact amount + known account) computed from the files beside truth.json.
        #[arg(long)]
        baseline: bool,
        /// Minimum share of invoices whose paid amount equals the truth.
        #[arg(long, default_value_t = 0.97)]
        min_exact: f64,
        /// `cuadra report exceptions --format json`, to count exceptions per class (needs --payments).
        #[arg(long, requires = "payments")]
        exceptions: Option<PathBuf>,
        /// `cuadra report payments --format json`, to find each exception's payment in the truth.
        #[arg(long)]
        payments: Option<PathBuf>,
    },
}

fn main() {
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            2
        }
    };
    std::process::exit(code);
}

fn parse_mix(s: Option<&str>, cases: Option<f64>) -> anyhow::Result<[f64; plan::EVENTS]> {
    let mut mix = plan::DEFAULT_MIX;
    if let Some(share) = cases {
        anyhow::ensure!(
            share >= 0.0 && share.is_finite(),
            "--cases: {share} is not a non-negative number"
        );
        for m in mix.iter_mut().skip(11) {
            *m = share;
        }
    }
    for part in s.unwrap_or("").split(',').filter(|p| !p.trim().is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--mix: {part:?} is not KIND=SHARE"))?;
        let i = plan::Kind::EVENTS
            .iter()
            .position(|e| *e == k.trim())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "--mix: unknown kind {k:?}; expected one of {}",
                    plan::Kind::EVENTS.join(", ")
                )
            })?;
        mix[i] = v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|x| *x >= 0.0)
            .ok_or_else(|| anyhow::anyhow!("--mix: {v:?} is not a non-negative number"))?;
    }
    Ok(mix)
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Cmd::Generate {
            seed,
            invoices,
            customers,
            payments,
            mix,
            cases,
            cfdi_format,
            statement_days,
            statement_format,
            out,
        } => {
            let mixed = match statement_format.as_str() {
                "camt" => false,
                "mixed" => true,
                other => anyhow::bail!("--statement-format: {other:?}; expected camt or mixed"),
            };
            let started = Instant::now();
            let opts = plan::Options {
                seed,
                invoices,
                customers: customers.unwrap_or(invoices / 10),
                payments: payments.unwrap_or((invoices / 5).max(10)),
                mix: parse_mix(mix.as_deref(), cases)?,
            };
            let zip = match cfdi_format.as_deref() {
                None => invoices > 2000,
                Some("zip") => true,
                Some("xml") => false,
                Some(other) => anyhow::bail!("--cfdi-format: {other:?}; expected xml or zip"),
            };
            let p = plan::Plan::build(&opts);
            std::fs::create_dir_all(&out)?;
            write::customers_csv(&p, &out.join("customers.csv"))?;
            let docs = write::cfdi(&p, &out.join("cfdi"), zip)?;
            write::cancellations(&p, &out.join("cfdi"))?;
            let stmts = write::statements(&p, &out.join("statements"), statement_days, mixed)?;
            write::truth(&p, &out.join("truth.json"))?;
            let mut kinds = std::collections::BTreeMap::new();
            for v in &p.invoices {
                *kinds.entry(v.kind.name()).or_insert(0u64) += 1;
            }
            println!("company RFC: {}", p.company_rfc);
            println!(
                "wrote {}: {} customers, {} invoices, {} CFDI, {} bank credits in {} statement files, {} REPs ({:.1} s)",
                out.display(),
                p.customers.len(),
                p.invoices.len(),
                docs,
                p.credits.len(),
                stmts,
                p.reps.len(),
                started.elapsed().as_secs_f64()
            );
            println!(
                "invoices by kind: {}",
                kinds
                    .iter()
                    .map(|(k, n)| format!("{k} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok(0)
        }
        Cmd::Score {
            truth,
            invoices,
            baseline,
            min_exact,
            exceptions,
            payments,
        } => {
            let t = score::load_truth(&truth)?;
            let ours = match &invoices {
                Some(path) => Some(score::score(&t, &score::load_report(path)?)?),
                None => None,
            };
            let base = if baseline || ours.is_none() {
                let dir = truth.parent().map(|p| p.to_path_buf()).unwrap_or_default();
                Some(score::score(&t, &score::baseline(&dir, &t.company_rfc)?)?)
            } else {
                None
            };
            println!("scenario seed {}: {} invoices", t.seed, t.invoices.len());
            score::print("cuadra", ours.as_ref(), "baseline", base.as_ref());
            if let Some(path) = &invoices {
                let exc: Option<Vec<String>> = match &exceptions {
                    Some(p) => Some(
                        classes::rows(p)?
                            .into_iter()
                            .map(|r| r.get("payment_id").cloned().unwrap_or_default())
                            .collect(),
                    ),
                    None => None,
                };
                let mut pays = std::collections::HashMap::new();
                if let Some(p) = &payments {
                    for r in classes::rows(p)? {
                        let id = r.get("id").cloned().unwrap_or_default();
                        let keys = ["external_id", "reference"]
                            .iter()
                            .filter_map(|k| r.get(*k).cloned())
                            .collect::<Vec<_>>();
                        pays.insert(id, keys);
                    }
                }
                let per_class =
                    classes::by_class(&truth, &score::load_report(path)?, exc.as_deref(), &pays)?;
                println!("cuadra by class (invoice groups):");
                classes::print(&per_class, exc.is_some());
            }
            let Some(s) = ours.as_ref().or(base.as_ref()) else {
                return Ok(0);
            };
            let wrong = s.wrong_total();
            let ok = wrong.is_zero() && s.exact_share() >= min_exact;
            println!(
                "targets: money applied to a wrong invoice = 0 ({}), exact paid >= {:.0}% ({}): {}",
                if wrong.is_zero() { "met" } else { "MISSED" },
                min_exact * 100.0,
                if s.exact_share() >= min_exact {
                    "met"
                } else {
                    "MISSED"
                },
                if ok { "PASS" } else { "FAIL" }
            );
            Ok(if ok { 0 } else { 1 })
        }
    }
}
