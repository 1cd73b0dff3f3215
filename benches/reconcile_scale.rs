//! Reconciliation at scale, through the binaries a user runs: for each size, `cuadra-scenario generate` writes a
//! scenario (N invoices, N/5 bank credits: 200,000 at 1,000,000), `cuadra import customers|cfdi|statement` loads
//! it into a fresh SQLite file in a temp folder, then `cuadra reconcile` runs alone under `/usr/bin/time` for its
//! wall time and peak RSS. With `--score` the result is also scored against the truth (`report invoices`).
//!
//! `cargo bench --bench reconcile_scale -- [10k] [100k] [1m] [--score]` (default 10k). Targets (issue 6):
//! 1,000,000 invoices + 200,000 payments reconciled in < 10 s and < 1.5 GB RSS; time close to linear in size.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

const CUADRA: &str = env!("CARGO_BIN_EXE_cuadra");

fn size(arg: &str) -> Option<u64> {
    let a = arg.to_ascii_lowercase();
    let (num, mul) = if let Some(n) = a.strip_suffix('k') {
        (n, 1_000)
    } else if let Some(n) = a.strip_suffix('m') {
        (n, 1_000_000)
    } else {
        (a.as_str(), 1)
    };
    num.parse::<u64>().ok().map(|n| n * mul)
}

/// Runs a command, failing with its output when it does not succeed.
fn run(cmd: &mut Command, what: &str) -> anyhow::Result<String> {
    let out = cmd.output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    anyhow::ensure!(
        out.status.success(),
        "{what} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(stdout)
}

fn cuadra(dir: &Path, rfc: &str) -> Command {
    let mut c = Command::new(CUADRA);
    c.current_dir(dir)
        .env_remove("CUADRA_CONFIG")
        .env("CUADRA__COMPANY__RFCS", rfc)
        .env(
            "CUADRA__DATABASE__URL",
            format!("sqlite://{}", dir.join("cuadra.db").display()),
        );
    c
}

struct Row {
    n: u64,
    payments: u64,
    generate_s: f64,
    import_s: f64,
    reconcile_s: Option<f64>,
    rss_mb: Option<f64>,
    quality: String,
}

fn one(n: u64, score: bool) -> anyhow::Result<Row> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();
    let scn = dir.join("scenario");
    let payments = n / 5;
    // Built (or found fresh) before the clock starts, so generate_s times only the generator.
    let scenario = cuadra_testkit::scenario::binary();
    let t = Instant::now();
    let out = run(
        Command::new(&scenario)
            .args([
                "generate",
                "--seed",
                "1",
                "--invoices",
                &n.to_string(),
                "--payments",
                &payments.to_string(),
                "--out",
            ])
            .arg(&scn),
        "generate",
    )?;
    let generate_s = t.elapsed().as_secs_f64();
    let rfc = out
        .lines()
        .find_map(|l| l.strip_prefix("company RFC: "))
        .ok_or_else(|| anyhow::anyhow!("generate did not print the company RFC:\n{out}"))?
        .trim()
        .to_string();
    let t = Instant::now();
    run(
        cuadra(dir, &rfc)
            .args(["import", "customers"])
            .arg(scn.join("customers.csv")),
        "import customers",
    )?;
    run(
        cuadra(dir, &rfc)
            .args(["import", "cfdi"])
            .arg(scn.join("cfdi")),
        "import cfdi",
    )?;
    run(
        cuadra(dir, &rfc)
            .args(["import", "statement"])
            .arg(scn.join("statements")),
        "import statement",
    )?;
    let import_s = t.elapsed().as_secs_f64();
    let has_reconcile = cuadra(dir, &rfc)
        .args(["reconcile", "--help"])
        .output()?
        .status
        .success();
    let (mut reconcile_s, mut rss_mb, mut quality) = (None, None, "-".to_string());
    if has_reconcile {
        let rss_file = dir.join("rss.txt");
        let t = Instant::now();
        if Path::new("/usr/bin/time").exists() {
            let c = cuadra(dir, &rfc);
            let mut timed = Command::new("/usr/bin/time");
            timed
                .args(["-f", "%M", "-o"])
                .arg(&rss_file)
                .arg(CUADRA)
                .arg("reconcile");
            for (k, v) in c.get_envs() {
                match v {
                    Some(v) => timed.env(k, v),
                    None => timed.env_remove(k),
                };
            }
            timed.current_dir(dir);
            run(&mut timed, "reconcile")?;
            rss_mb = std::fs::read_to_string(&rss_file)
                .ok()
                .and_then(|s| s.lines().last()?.trim().parse::<f64>().ok())
                .map(|kb| kb / 1024.0);
        } else {
            run(cuadra(dir, &rfc).arg("reconcile"), "reconcile")?;
        }
        reconcile_s = Some(t.elapsed().as_secs_f64());
        if score {
            let report = dir.join("invoices.json");
            run(
                cuadra(dir, &rfc)
                    .args(["report", "invoices", "--format", "json", "--output"])
                    .arg(&report),
                "report invoices",
            )?;
            let out = Command::new(&scenario)
                .args(["score", "--truth"])
                .arg(scn.join("truth.json"))
                .arg("--invoices")
                .arg(&report)
                .output()?;
            let text = String::from_utf8_lossy(&out.stdout);
            println!("{text}");
            quality = text
                .lines()
                .find(|l| l.starts_with("cuadra:"))
                .and_then(|l| {
                    l.split_once('(')
                        .and_then(|(_, r)| r.split_once(')'))
                        .map(|(p, _)| p.split(';').next().unwrap_or(p).to_string())
                })
                .unwrap_or_default();
        }
    } else {
        println!("`cuadra reconcile` is not available in this build: only generation and import are measured");
    }
    Ok(Row {
        n,
        payments,
        generate_s,
        import_s,
        reconcile_s,
        rss_mb,
        quality,
    })
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let score = args.iter().any(|a| a == "--score");
    let mut sizes: Vec<u64> = args.iter().filter_map(|a| size(a)).collect();
    if sizes.is_empty() {
        sizes.push(10_000);
    }
    let mut rows = Vec::new();
    for n in sizes {
        println!("size {n}: generating, importing, reconciling...");
        let row = one(n, score)?;
        rows.push(row);
    }
    println!(
        "\n{:>10} {:>9} {:>10} {:>9} {:>12} {:>8} {:>12}",
        "invoices", "payments", "generate s", "import s", "reconcile s", "RSS MB", "exact paid"
    );
    for r in &rows {
        println!(
            "{:>10} {:>9} {:>10.1} {:>9.1} {:>12} {:>8} {:>12}",
            r.n,
            r.payments,
            r.generate_s,
            r.import_s,
            r.reconcile_s.map_or("-".into(), |s| format!("{s:.2}")),
            r.rss_mb.map_or("-".into(), |m| format!("{m:.0}")),
            r.quality
        );
    }
    Ok(())
}
