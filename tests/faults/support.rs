//! What every phase of the harness shares: the backends and their databases (fresh, or copied from a template),
//! the seeded random kill points, the generated scenario, the `cuadra` processes (logged to a file shown on
//! failure) and waiting on conditions.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

fn pg_admin_url() -> String {
    std::env::var("CUADRA_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// SQLite, and PostgreSQL when a server answers (required when `CI` is set; otherwise its absence is printed).
/// Each test calls it first: it also prints the seed, so that a failing test's captured output names it.
pub async fn backends() -> Vec<Backend> {
    use sqlx::Connection;
    eprintln!(
        "fault harness: CUADRA_FAULT_SEED={} CUADRA_FAULT_ITERATIONS={}",
        seed(),
        iterations()
    );
    let mut out = vec![Backend::Sqlite];
    let pg = tokio::time::timeout(
        Duration::from_secs(3),
        sqlx::PgConnection::connect(&pg_admin_url()),
    )
    .await;
    match pg {
        Ok(Ok(c)) => {
            let _ = c.close().await;
            out.push(Backend::Postgres);
        }
        other => {
            let why = match other {
                Ok(Err(e)) => e.to_string(),
                _ => "timed out".to_string(),
            };
            assert!(
                !in_ci(),
                "PostgreSQL is required in CI but not reachable at {}: {why}",
                pg_admin_url()
            );
            eprintln!(
                "SKIP the PostgreSQL half: not reachable at {}: {why}",
                pg_admin_url()
            );
        }
    }
    out
}

/// Iterations per phase and backend (`CUADRA_FAULT_ITERATIONS`, default 3).
pub fn iterations() -> u32 {
    std::env::var("CUADRA_FAULT_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// The run's seed (`CUADRA_FAULT_SEED`, default the clock), printed once.
pub fn seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        let s = std::env::var("CUADRA_FAULT_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as u64 % 1_000_000)
                    .unwrap_or(1)
            });
        eprintln!("fault harness: CUADRA_FAULT_SEED={s} (set it to replay this run)");
        s
    })
}

/// A small seeded generator (splitmix64): the same seed gives the same kill points.
pub struct Rng(u64);

impl Rng {
    /// The generator of one phase, backend and iteration.
    pub fn new(phase: &str, backend: Backend, iteration: u32) -> Rng {
        let mut h = seed() ^ (u64::from(iteration) << 32);
        for b in phase.bytes().chain(format!("{backend:?}").bytes()) {
            h = h.rotate_left(5) ^ u64::from(b);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
        Rng(h)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }

    /// A delay uniform in `0..max`.
    pub fn delay(&mut self, max: Duration) -> Duration {
        Duration::from_micros(self.below(max.as_micros().max(1) as u64))
    }
}

/// One database and the folder its config, logs and files live in.
pub struct Db {
    pub backend: Backend,
    pub url: String,
    pub dir: tempfile::TempDir,
    pg_name: Option<String>,
}

impl Db {
    /// A fresh, empty database (migrated by the first `cuadra` that opens it).
    pub async fn fresh(backend: Backend) -> Db {
        Self::create(backend, None).await
    }

    /// A copy of `template` (which no process may hold open).
    pub async fn copy_of(template: &Db) -> Db {
        Self::create(template.backend, Some(template)).await
    }

    async fn create(backend: Backend, template: Option<&Db>) -> Db {
        use sqlx::{Connection, Executor};
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => {
                let file = dir.path().join("cuadra.db");
                if let Some(t) = template {
                    for suffix in ["", "-wal", "-shm"] {
                        let from = t.dir.path().join(format!("cuadra.db{suffix}"));
                        if from.exists() {
                            std::fs::copy(&from, dir.path().join(format!("cuadra.db{suffix}")))
                                .expect("copy the template database");
                        }
                    }
                }
                Db {
                    backend,
                    url: format!("sqlite://{}", file.display()),
                    dir,
                    pg_name: None,
                }
            }
            Backend::Postgres => {
                let name = format!("cuadra_f_{}", uuid::Uuid::now_v7().simple());
                let mut c = sqlx::PgConnection::connect(&pg_admin_url())
                    .await
                    .expect("postgres");
                let sql = match template.and_then(|t| t.pg_name.as_deref()) {
                    Some(t) => format!("CREATE DATABASE {name} TEMPLATE {t}"),
                    None => format!("CREATE DATABASE {name}"),
                };
                c.execute(sql.as_str()).await.expect("create database");
                c.close().await.ok();
                let admin = pg_admin_url();
                let base = admin
                    .rsplit_once('/')
                    .map(|(b, _)| b.to_string())
                    .unwrap_or(admin);
                Db {
                    backend,
                    url: format!("{base}/{name}"),
                    dir,
                    pg_name: Some(name),
                }
            }
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self) -> PathBuf {
        self.path().join("cuadra.toml")
    }

    /// Writes the config: this database, the scenario's company, port 0, the inbox off, and `extra`.
    pub fn write_config(&self, extra: &str) {
        let toml = format!(
            "[database]\nurl = \"{}\"\nmax_connections = 4\n[company]\nrfcs = [\"{}\"]\n[http]\nlisten = \"127.0.0.1:0\"\n\
             [inbox]\nenabled = false\n{extra}\n",
            self.url,
            scenario().rfc
        );
        std::fs::write(self.config(), toml).expect("write config");
    }

    /// A short-lived connection pool for inspection.
    pub async fn pool(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::pool::PoolOptions::<sqlx::Any>::new()
            .max_connections(1)
            .connect(&self.url)
            .await
            .expect("connect for inspection")
    }

    /// Forgets the leases of killed processes: what their expiry (30 s after the last renewal) does, without
    /// waiting for it. Only while no `cuadra` process runs on this database.
    pub async fn expire_leases(&self) {
        let pool = self.pool().await;
        sqlx::query("DELETE FROM leases")
            .execute(&pool)
            .await
            .expect("expire leases");
        pool.close().await;
    }

    /// This database's process logs, for a failure message.
    pub fn logs(&self) -> String {
        let text = std::fs::read_to_string(self.path().join("cuadra.log")).unwrap_or_default();
        let start = text.len().saturating_sub(6_000);
        let start = (start..text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        format!(
            "--- last lines of {} ---\n{}",
            self.path().display(),
            &text[start..]
        )
    }

    /// `cuadra --config CONFIG ARGS…`, its stderr appended to this database's log.
    pub fn cuadra(&self, args: &[&str]) -> tokio::process::Command {
        use std::io::Write;
        let log_path = self.path().join("cuadra.log");
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("log file");
        let _ = writeln!(log, "=== cuadra {}", args.join(" "));
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_cuadra"));
        cmd.arg("--config")
            .arg(self.config())
            .args(args)
            .current_dir(self.path())
            .env_remove("CUADRA_CONFIG")
            .env_remove("CUADRA_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true);
        cmd
    }

    /// Runs `cuadra ARGS…` to its end; returns the exit code.
    pub async fn run(&self, args: &[&str]) -> Option<i32> {
        let status = self.cuadra(args).status().await.expect("run cuadra");
        status.code()
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            // Best effort, on a thread of its own (drop may run inside a runtime).
            let admin = pg_admin_url();
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(rt) = rt {
                    rt.block_on(async {
                        use sqlx::{Connection, Executor};
                        if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                            let _ = c
                                .execute(
                                    format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
                                )
                                .await;
                            let _ = c.close().await;
                        }
                    });
                }
            })
            .join();
        }
    }
}

/// Runs `cmd` and kills it (SIGKILL) after `after` unless it ended first: `Some(code)` when it ended by itself.
pub async fn run_or_kill(mut cmd: tokio::process::Command, after: Duration) -> Option<Option<i32>> {
    let mut child = cmd.spawn().expect("start cuadra");
    match tokio::time::timeout(after, child.wait()).await {
        Ok(status) => Some(status.expect("wait for cuadra").code()),
        Err(_) => {
            kill(&mut child).await;
            None
        }
    }
}

/// SIGKILL, then reap.
pub async fn kill(child: &mut tokio::process::Child) {
    let _ = child.start_kill();
    let _ = child.wait().await;
}

/// Polls `f` until it returns true or `secs` pass.
pub async fn eventually<F, Fut>(secs: u64, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// The scenario every phase imports: generated once per run with `cuadra-scenario` from the seed.
pub struct Scenario {
    pub dir: PathBuf,
    pub rfc: String,
    _keep: tempfile::TempDir,
}

impl Scenario {
    pub fn customers(&self) -> PathBuf {
        self.dir.join("customers.csv")
    }
    pub fn cfdi(&self) -> PathBuf {
        self.dir.join("cfdi")
    }
    pub fn statements(&self) -> PathBuf {
        self.dir.join("statements")
    }
}

/// Invoices in the generated scenario (`CUADRA_FAULT_INVOICES`, default 60).
fn invoices() -> u32 {
    std::env::var("CUADRA_FAULT_INVOICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60)
}

pub fn scenario() -> &'static Scenario {
    static S: OnceLock<Scenario> = OnceLock::new();
    S.get_or_init(|| {
        let keep = tempfile::tempdir().expect("temp dir");
        let dir = keep.path().join("scenario");
        let out = std::process::Command::new(cuadra_testkit::scenario::binary())
            .args(["generate", "--seed"])
            .arg((seed() % 10_000 + 1).to_string())
            .arg("--invoices")
            .arg(invoices().to_string())
            .args(["--cfdi-format", "xml", "--out"])
            .arg(&dir)
            .output()
            .expect("run cuadra-scenario");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "cuadra-scenario generate: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rfc = text
            .split(|c: char| !c.is_ascii_alphanumeric())
            .find(|w| {
                (12..=13).contains(&w.len())
                    && w.chars().any(|c| c.is_ascii_digit())
                    && w.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            })
            .unwrap_or_else(|| panic!("no company RFC in: {text}"))
            .to_string();
        Scenario {
            dir,
            rfc,
            _keep: keep,
        }
    })
}

/// The imports of the scenario, in order: `cuadra import …` arguments.
pub fn import_steps() -> Vec<Vec<String>> {
    let s = scenario();
    let p = |p: PathBuf| p.display().to_string();
    vec![
        vec!["import".into(), "customers".into(), p(s.customers())],
        vec!["import".into(), "cfdi".into(), p(s.cfdi())],
        vec!["import".into(), "statement".into(), p(s.statements())],
    ]
}

/// Runs the command to its end and checks it succeeded (exit 0, or 2 for inputs with reported parts).
pub async fn run_ok(db: &Db, args: &[&str]) -> Option<i32> {
    let code = db.run(args).await;
    assert!(
        matches!(code, Some(0) | Some(2)),
        "{:?}: cuadra {} exited {code:?}\n{}",
        db.backend,
        args.join(" "),
        db.logs()
    );
    code
}

/// Time a command takes (the clean run's), to draw kill points within it.
pub async fn timed_run(db: &Db, args: &[&str]) -> (Option<i32>, Duration) {
    let t = Instant::now();
    let code = run_ok(db, args).await;
    (code, t.elapsed())
}

/// Counts what a phase did, printed at its end.
#[derive(Default, Debug)]
pub struct Tally {
    pub iterations: u32,
    pub kills: u32,
}

impl Tally {
    /// Counts one iteration whose outcome equalled the clean run's, and says so (a long run shows its progress).
    pub fn passed(&mut self, phase: &str, backend: Backend) {
        self.iterations += 1;
        eprintln!(
            "fault harness: {phase} on {backend:?}: iteration {} equal to the clean run ({} kills so far)",
            self.iterations, self.kills
        );
    }

    pub fn print(&self, phase: &str, backend: Backend, started: Instant) {
        eprintln!(
            "fault harness: {phase} on {backend:?}: {} iterations, {} kills, all equal to the clean run, {:.1} s (seed {})",
            self.iterations,
            self.kills,
            started.elapsed().as_secs_f64(),
            seed()
        );
    }
}
