//! The binary as a user runs it: embedded defaults in an empty folder, SIGTERM, config errors, exit codes.

use super::helpers::cuadra;
use std::io::Read;
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn run_on_embedded_defaults_then_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cuadra"))
        .arg("run")
        .current_dir(dir.path())
        .env_remove("CUADRA_CONFIG")
        // Only the port differs from the embedded defaults, so parallel tests do not collide on 8080.
        .env("CUADRA__HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/healthz");
    let mut healthy = false;
    while started.elapsed() < Duration::from_secs(10) {
        if let Ok(r) = client.get(&url).send().await {
            healthy = r.status().is_success();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(healthy, "no /healthz answer");
    assert!(
        dir.path().join("data/cuadra.db").exists(),
        "data/cuadra.db created"
    );
    assert!(dir.path().join("inbox").is_dir(), "inbox/ created");
    let ready = client
        .get(format!("http://127.0.0.1:{port}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let stop = Instant::now();
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            stop.elapsed() < Duration::from_secs(10),
            "did not exit within 10 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Some(0));
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("stopped"), "{err}");
}

#[test]
fn config_errors_name_the_key_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[database]\nurl = \"mysql://x\"\n").unwrap();
    let o = cuadra(dir.path(), &["--config", cfg.to_str().unwrap(), "doctor"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("database.url"));
    std::fs::write(&cfg, "[connectors.x]\nkind = \"nope\"\n").unwrap();
    let o = cuadra(dir.path(), &["--config", cfg.to_str().unwrap(), "doctor"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("connectors.x.kind"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = cuadra(dir.path(), &["report", "nothing"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn doctor_reports_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let o = cuadra(dir.path(), &["doctor"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("database: SQLite reachable, migrations applied"),
        "{out}"
    );
}

#[test]
fn example_config_is_valid_with_every_connector_uncommented() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/cuadra.example.toml"
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // As shipped (connectors commented out) it loads as is.
    let p = dir.path().join("a.toml");
    std::fs::write(&p, &text).unwrap();
    cuadra::config::Settings::load_with_env(Some(&p), Vec::<(String, String)>::new())
        .expect("example config loads");
    // Uncommented, every documented key is one the settings accept (connector tables are checked by their kinds).
    let uncommented: String = text
        .lines()
        .map(|l| {
            l.strip_prefix("# ")
                .filter(|r| r.starts_with('[') || r.contains(" = "))
                .unwrap_or(l)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let p = dir.path().join("b.toml");
    std::fs::write(&p, &uncommented).unwrap();
    let s = cuadra::config::Settings::load_with_env(Some(&p), Vec::<(String, String)>::new())
        .expect("uncommented example loads");
    assert!(
        s.connectors.contains_key("sat")
            && s.connectors.contains_key("stripe")
            && s.accounts.contains_key("bbva")
    );
}

#[test]
fn json_logs_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_cuadra"))
        .args(["doctor"])
        .current_dir(dir.path())
        .env("CUADRA__LOG__FORMAT", "json")
        .env("CUADRA_LOG", "debug")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    let json_lines: Vec<&str> = err.lines().filter(|l| l.starts_with('{')).collect();
    assert!(!json_lines.is_empty(), "{err}");
    for l in json_lines {
        let v: serde_json::Value = serde_json::from_str(l).expect("each log line is JSON");
        assert!(
            v.get("level").is_some() && v.get("timestamp").is_some(),
            "{l}"
        );
    }
}

#[test]
fn manual_decisions_name_the_bad_argument_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let err = |args: &[&str]| {
        let o = cuadra(dir.path(), args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        String::from_utf8_lossy(&o.stderr).to_string()
    };
    let e = err(&["match", "1", "A-1", "B-2=abc"]);
    assert!(
        e.ends_with("error: invoice A-1: not found (give its UUID, SERIE-FOLIO or folio)\n"),
        "{e}"
    );
    let e = err(&["match", "1", "B-2=abc", "A-1"]);
    assert!(
        e.ends_with("error: B-2=abc: expected INVOICE=AMOUNT with a positive decimal amount\n"),
        "{e}"
    );
    let e = err(&["unmatch", "999999"]);
    assert!(
        e.ends_with("error: allocation 999999: no such allocation\n"),
        "{e}"
    );
}

/// `cuadra doctor | head -0`: the reader is gone before the command prints; it ends without a panic.
#[test]
fn a_closed_pipe_ends_a_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let migrate = std::process::Command::new(env!("CARGO_BIN_EXE_cuadra"))
        .arg("migrate")
        .current_dir(dir.path())
        .env_remove("CUADRA_CONFIG")
        .output()
        .unwrap();
    assert!(migrate.status.success(), "{migrate:?}");
    for args in [&["doctor"][..], &["report", "customers"][..]] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cuadra"))
            .args(args)
            .current_dir(dir.path())
            .env_remove("CUADRA_CONFIG")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader closes first; SIGPIPE (13) ends the writer as it ends `cat` or `grep`.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        use std::os::unix::process::ExitStatusExt;
        assert!(
            out.status.success() || out.status.signal() == Some(13),
            "{args:?}: {:?} {stderr}",
            out.status
        );
    }
}

/// A misspelt `log.level` is refused at load naming the key (the tracing filter took it for a target name and
/// logged nothing useful), and so is `http.max_body_bytes = 0`; valid filters still load.
#[test]
fn log_level_and_max_body_bytes_are_checked_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.toml");
    let load = |toml: &str| {
        std::fs::write(&p, toml).unwrap();
        cuadra::config::Settings::load_with_env(Some(&p), Vec::<(String, String)>::new())
            .map_err(|e| format!("{e:#}"))
    };
    for bad in ["debgu", "cuadra=loud", "", "info,"] {
        let e = load(&format!("[log]\nlevel = \"{bad}\"\n")).unwrap_err();
        assert!(e.contains("log.level"), "{bad:?}: {e}");
    }
    for good in [
        "info",
        "WARN",
        "cuadra=debug,info",
        "cuadra::daemon=trace,warn",
    ] {
        load(&format!("[log]\nlevel = \"{good}\"\n")).unwrap_or_else(|e| panic!("{good:?}: {e}"));
    }
    let e = load("[http]\nmax_body_bytes = 0\n").unwrap_err();
    assert!(e.contains("http.max_body_bytes"), "{e}");
    load("[http]\nmax_body_bytes = 1\n").unwrap();
}

/// A connector's numeric key set from the environment (strings there) is read as a number.
#[test]
fn connector_numeric_keys_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cuadra.toml"),
        "[connectors.stripe]\nkind = \"stripe\"\nwebhook_secret = \"whsec_cuadra_test_secret\"\n",
    )
    .unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_cuadra"))
        .args(["--config", "cuadra.toml", "doctor"])
        .current_dir(dir.path())
        .env("CUADRA__CONNECTORS__STRIPE__TOLERANCE_SECS", "60")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !err.contains("expected u64") && !err.contains("invalid type"),
        "{err}"
    );
    assert_eq!(o.status.code(), Some(0), "{err}");
}

/// On PostgreSQL a command run against a migrated ledger prints none of the server's NOTICEs (before: `relation
/// "_sqlx_migrations" already exists, skipping` at every start).
#[tokio::test]
async fn postgres_commands_print_no_server_notices() {
    for b in super::helpers::backends().await {
        let db = super::helpers::fresh_db(b).await;
        let dir = db.dir.path();
        std::fs::write(
            dir.join("cuadra.toml"),
            format!("[database]\nurl = \"{}\"\n", db.url),
        )
        .unwrap();
        for args in [
            &["migrate"][..],
            &["migrate"][..],
            &["report", "payments"][..],
        ] {
            let mut all = vec!["--config", "cuadra.toml"];
            all.extend_from_slice(args);
            let o = cuadra(dir, &all);
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(o.status.success(), "{b:?} {args:?}: {err}");
            assert!(
                !err.contains("skipping") && !err.contains("NOTICE"),
                "{b:?} {args:?}: {err}"
            );
        }
    }
}
