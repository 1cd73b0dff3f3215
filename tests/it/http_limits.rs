//! The HTTP surface under a crowd: idle sockets past `http.max_connections` do not keep `/healthz` from answering.

use super::helpers::{eventually, fresh_db, http_daemon, Backend, HttpDaemon};
use std::time::{Duration, Instant};

/// A daemon on SQLite with these `[http]` keys (besides the listen address) and the inbox off.
async fn daemon_with(http: &str) -> HttpDaemon {
    http_daemon(Backend::Sqlite, http).await
}

/// The real binary under `ulimit -n 256` (the daemon's own file-descriptor limit, as systemd's `LimitNOFILE`),
/// 64 connections allowed, and 400 sockets that connect and never send a byte: more than the limit and more than
/// the descriptors. The timeouts are long, so only the limit can let `/healthz` in. Before the limit, the accept
/// loop ran out of descriptors and `/healthz` waited as long as the idle sockets stayed.
#[tokio::test]
async fn healthz_answers_with_more_idle_sockets_than_the_connection_limit() {
    let db = fresh_db(Backend::Sqlite).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let cfg = db.dir.path().join("crowd.toml");
    std::fs::write(
        &cfg,
        format!(
            "[database]\nurl = \"{}\"\n[http]\nlisten = \"{addr}\"\nmax_connections = 64\nheader_read_timeout_secs = 60\nidle_timeout_secs = 120\n[inbox]\nenabled = false\n",
            db.url
        ),
    )
    .unwrap();
    let mut daemon = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n 256 && exec '{}' --config '{}' run",
            env!("CARGO_BIN_EXE_cuadra"),
            cfg.display()
        ))
        .current_dir(db.dir.path())
        .env_remove("CUADRA_CONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let c = reqwest::Client::new();
    let health = format!("http://{addr}/healthz");
    assert!(
        eventually(20, || async { c.get(&health).send().await.is_ok() }).await,
        "the daemon started"
    );
    let mut idle = Vec::new();
    for _ in 0..400 {
        idle.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    let started = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        reqwest::Client::new().get(&health).send(),
    )
    .await
    .expect("/healthz answered within 5 s")
    .unwrap();
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(idle);
    daemon.kill().await.unwrap();
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_header_read_timeout() {
    use tokio::io::AsyncReadExt;
    let app = daemon_with("header_read_timeout_secs = 1").await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut buf = [0u8; 64];
    // The server closes it: read returns (EOF or a 408) well before the 10 s guard.
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .expect("the server closed the silent connection");
    let _ = n;
    app.running.shutdown(Duration::from_secs(5)).await;
}

#[test]
fn zero_limits_are_refused_at_load() {
    for key in [
        "max_connections",
        "header_read_timeout_secs",
        "idle_timeout_secs",
        "request_timeout_secs",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, format!("[http]\n{key} = 0\n")).unwrap();
        let e = cuadra::config::Settings::load_with_env(Some(&p), Vec::<(String, String)>::new())
            .unwrap_err();
        assert!(format!("{e:#}").contains(&format!("http.{key}")), "{e:#}");
    }
}

/// A client that sends its headers and then only part of the body is answered 408 after
/// `http.request_timeout_secs`, instead of holding the connection for as long as it likes.
#[tokio::test]
async fn a_request_whose_body_never_ends_gets_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = daemon_with("request_timeout_secs = 1\nidle_timeout_secs = 60").await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(
        b"POST /webhooks/none HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n0123456789",
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .expect("answered before 10 s")
        .unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    app.running.shutdown(Duration::from_secs(5)).await;
}
