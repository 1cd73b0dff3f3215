//! Shared test helpers: a fresh database per test on each backend, and `spawn_app` to start the daemon on port 0.

use cuadra::app::App;
use cuadra::config::Settings;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server tests create their databases on.
fn pg_admin_url() -> String {
    std::env::var("CUADRA_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// The backends this run can test. PostgreSQL missing is a failure in CI (`CI` set, as every CI service sets it)
/// and elsewhere a skip that the run reports after libtest's summary (see [`note_skip`]).
pub async fn backends() -> Vec<Backend> {
    let mut out = vec![Backend::Sqlite];
    match pg_available().await {
        Ok(()) => out.push(Backend::Postgres),
        Err(e) => {
            if in_ci() {
                panic!(
                    "PostgreSQL is required in CI but not reachable at {}: {e}",
                    pg_admin_url()
                );
            }
            note_skip(&e.to_string());
        }
    }
    out
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Tests that ran without their PostgreSQL half, and why.
static SKIPS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Records a skipped PostgreSQL half. A passing test's output is captured, so a skip printed inside it is never
/// seen: the first skip registers an exit hook that prints `N tests skipped their PostgreSQL half` after libtest's
/// `test result` line.
fn note_skip(reason: &str) {
    let name = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let mut skips = SKIPS.lock().unwrap_or_else(|e| e.into_inner());
    if skips.is_empty() {
        extern "C" fn report() {
            let skips = SKIPS.lock().unwrap_or_else(|e| e.into_inner());
            eprintln!(
                "\n{} tests skipped their PostgreSQL half (set CUADRA_TEST_PG_URL; required when CI is set): {}",
                skips.len(),
                skips.join(", ")
            );
            if let Some(r) = skips.first().and(REASON.get()) {
                eprintln!("PostgreSQL not reachable at {}: {r}", pg_admin_url());
            }
        }
        let _ = REASON.set(reason.to_string());
        // SAFETY: `report` is a plain function that only locks a static and writes to stderr.
        unsafe {
            libc::atexit(report);
        }
    }
    if !skips.contains(&name) {
        skips.push(name);
    }
}

static REASON: std::sync::OnceLock<String> = std::sync::OnceLock::new();

async fn pg_available() -> anyhow::Result<()> {
    use sqlx::Connection;
    let c = tokio::time::timeout(
        std::time::Duration::from_secs(3),
        sqlx::PgConnection::connect(&pg_admin_url()),
    )
    .await??;
    c.close().await?;
    Ok(())
}

/// A fresh, empty database for one test, and the folder it may write in.
pub struct TestDb {
    pub url: String,
    pub dir: tempfile::TempDir,
}

pub async fn fresh_db(backend: Backend) -> TestDb {
    use sqlx::{Connection, Executor};
    let dir = tempfile::tempdir().expect("temp dir");
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("cuadra.db").display()),
        Backend::Postgres => {
            let name = format!("cuadra_t_{}", uuid::Uuid::now_v7().simple());
            let mut c = sqlx::PgConnection::connect(&pg_admin_url())
                .await
                .expect("postgres");
            c.execute(format!("CREATE DATABASE {name}").as_str())
                .await
                .expect("create database");
            c.close().await.ok();
            let admin = pg_admin_url();
            let base = admin
                .rsplit_once('/')
                .map(|(b, _)| b.to_string())
                .unwrap_or(admin);
            format!("{base}/{name}")
        }
    };
    TestDb { url, dir }
}

/// Settings for a test: its own database, port 0, inbox inside the temp folder.
pub fn test_settings(db: &TestDb, extra_toml: &str) -> Settings {
    let path = db.dir.path().join("cuadra.toml");
    let inbox = db.dir.path().join("inbox");
    let toml = format!(
        "[database]\nurl = \"{}\"\n[http]\nlisten = \"127.0.0.1:0\"\n[inbox]\npath = \"{}\"\npoll_interval_secs = 1\n{}\n",
        db.url,
        inbox.display(),
        extra_toml
    );
    std::fs::write(&path, toml).expect("write config");
    Settings::load_with_env(Some(&path), Vec::<(String, String)>::new()).expect("settings")
}

pub fn config_path(db: &TestDb) -> PathBuf {
    db.dir.path().join("cuadra.toml")
}

pub async fn build_app(db: &TestDb, extra_toml: &str) -> App {
    App::build(test_settings(db, extra_toml))
        .await
        .expect("app")
}

/// A running daemon on port 0.
pub struct TestApp {
    pub app: App,
    pub running: Option<cuadra::daemon::Running>,
    pub base: String,
    /// Keeps the test folder and database alive as long as the app.
    #[allow(dead_code)]
    pub db: TestDb,
}

pub async fn spawn_app(backend: Backend, extra_toml: &str) -> TestApp {
    let db = fresh_db(backend).await;
    let app = build_app(&db, extra_toml).await;
    let running = cuadra::daemon::start(app.clone())
        .await
        .expect("start daemon");
    let base = format!("http://{}", running.addr);
    TestApp {
        app,
        running: Some(running),
        base,
        db,
    }
}

impl TestApp {
    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown(std::time::Duration::from_secs(5)).await;
        }
    }
    pub fn inbox(&self) -> PathBuf {
        self.app.settings.inbox.path.clone()
    }
}

/// Runs the `cuadra` binary with a config file, in `cwd`.
pub fn cuadra(cwd: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_cuadra"))
        .args(args)
        .current_dir(cwd)
        .env_remove("CUADRA_CONFIG")
        .output()
        .expect("run cuadra")
}

/// Polls `f` until it returns true or `secs` pass.
pub async fn eventually<F, Fut>(secs: u64, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if f().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

/// A daemon started on port 0 over `b`, with these `[http]` keys besides the listen address and the inbox off.
pub struct HttpDaemon {
    pub app: App,
    pub running: cuadra::daemon::Running,
    /// `http://ADDR`
    pub base: String,
    pub db: TestDb,
}

pub async fn http_daemon(b: Backend, http: &str) -> HttpDaemon {
    let db = fresh_db(b).await;
    let cfg = db.dir.path().join("http.toml");
    std::fs::write(
        &cfg,
        format!(
            "[database]\nurl = \"{}\"\n[http]\nlisten = \"127.0.0.1:0\"\n{http}\n[inbox]\nenabled = false\n",
            db.url
        ),
    )
    .unwrap();
    let settings = Settings::load_with_env(Some(&cfg), Vec::<(String, String)>::new()).unwrap();
    let app = App::build(settings).await.unwrap();
    let running = cuadra::daemon::start(app.clone()).await.unwrap();
    let base = format!("http://{}", running.addr);
    HttpDaemon {
        app,
        running,
        base,
        db,
    }
}
