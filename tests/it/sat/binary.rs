//! The SAT connector through the `cuadra` binary on the real clock: `cuadra sync sat` progress, the daemon killed
//! with SIGKILL while requests are pending and started again, `cuadra doctor`, and the logs of a whole traced run
//! searched for the key and the password.

use super::support::{documents, generated_fiel};
use super::support::{invoices, let_time_pass, sat_toml, state, TestFiel};
use crate::helpers::{backends, build_app, config_path, eventually, fresh_db, Backend, TestDb};
use chrono::{Duration, Utc};
use cuadra::app::App;
use cuadra_sat::checkpoint::RowState;
use cuadra_testkit::sat::FakeSat;
use std::process::{Output, Stdio};

/// A database, its config file with the SAT connector pointing at a fake on the real clock, and an `App` on it
/// for inspection.
struct Setup {
    fake: FakeSat,
    db: TestDb,
    app: App,
    uuids: [String; 2],
}

async fn setup(backend: Backend, fiel: &TestFiel, extra: &str) -> Setup {
    let fake = FakeSat::start(&fiel.certificate_der())
        .await
        .expect("fake SAT starts");
    let docs = documents(&fiel.rfc, Utc::now() - Duration::days(1));
    let cfdi = docs.cfdi_zip.clone();
    fake.script(|s| s.package = cfdi);
    let db = fresh_db(backend).await;
    // Built (and migrated) before any binary runs, so two processes never migrate at once.
    let app = build_app(&db, &sat_toml(fiel, &fake.base_url(), extra)).await;
    Setup {
        fake,
        db,
        app,
        uuids: docs.uuids,
    }
}

impl Setup {
    fn config(&self) -> String {
        config_path(&self.db).display().to_string()
    }

    /// `cuadra --config FILE ARGS…` with `envs`, without blocking the fake's runtime.
    async fn cuadra(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_cuadra"));
        cmd.arg("--config")
            .arg(self.config())
            .args(args)
            .current_dir(self.db.dir.path())
            .env_remove("CUADRA_CONFIG")
            .env_remove("CUADRA_LOG");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.output().await.expect("run cuadra")
    }

    fn daemon(&self) -> tokio::process::Child {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_cuadra"))
            .arg("--config")
            .arg(self.config())
            .arg("run")
            .current_dir(self.db.dir.path())
            .env_remove("CUADRA_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start cuadra run")
    }

    fn calls(&self, operation: &str) -> usize {
        self.fake.calls_of(operation).len()
    }
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Secrets that must appear nowhere: the password, and the key file's bytes (and the decrypted key's when known)
/// as base64 and hex.
fn secrets(fiel: &TestFiel) -> Vec<String> {
    let mut out = vec![fiel.password.clone()];
    let mut blobs = vec![std::fs::read(&fiel.key).expect("key")];
    blobs.extend(fiel.plain_key_der.clone());
    for b in blobs {
        let b64 = super::support::base64(&b);
        let hex = hex::encode(&b);
        // Windows taken inside the key, past the DER headers every RSA key shares.
        for at in [64, 400, b64.len() / 2] {
            out.push(b64[at..at + 32].to_string());
        }
        for at in [96, 600, hex.len() / 2] {
            out.push(hex[at..at + 32].to_string());
        }
    }
    out
}

fn assert_no_secret(fiel: &TestFiel, what: &str, log: &str) {
    let lower = log.to_lowercase();
    for s in secrets(fiel) {
        assert!(
            !log.contains(&s) && !lower.contains(&s.to_lowercase()),
            "{what} shows a secret ({} chars)",
            s.len()
        );
    }
}

/// `cuadra sync sat` twice (the second after the poll delay has passed): the first sends both requests, the
/// second polls, downloads and imports; its stdout shows each request. The whole traced run (CUADRA_LOG=trace)
/// shows neither the key nor the password.
#[tokio::test]
async fn sync_shows_progress_and_logs_show_no_secret() {
    for b in backends().await {
        let fiel = generated_fiel(365);
        let s = setup(b, &fiel, "").await;
        let trace = [("CUADRA_LOG", "trace")];
        let first = s.cuadra(&["sync", "sat"], &trace).await;
        let (out1, err1) = text(&first);
        assert!(first.status.success(), "{out1}\n{err1}");
        assert!(
            out1.starts_with("sat: 0 deliveries (0 new) in 2 batches"),
            "{out1}"
        );
        assert_eq!(
            out1.matches(" Pending packages 0/0 polls 0 last code 5000")
                .count(),
            2,
            "{out1}"
        );
        assert!(
            out1.contains("daily/emitidos/metadata/") && out1.contains("daily/emitidos/cfdi/"),
            "{out1}"
        );

        let_time_pass(&s.app.store, Duration::minutes(2)).await;
        let second = s.cuadra(&["sync", "sat"], &trace).await;
        let (out2, err2) = text(&second);
        assert!(second.status.success(), "{out2}\n{err2}");
        assert!(out2.starts_with("sat: 2 deliveries (2 new) in "), "{out2}");
        assert_eq!(
            out2.matches(" Done packages 1/1 polls 1 last code 5000")
                .count(),
            2,
            "{out2}"
        );
        println!("{out1}{out2}");

        let report = s
            .cuadra(&["report", "invoices", "--format", "csv"], &[])
            .await;
        let (csv, _) = text(&report);
        for u in &s.uuids {
            assert!(csv.to_uppercase().contains(u), "{csv}");
        }
        assert_eq!(s.calls("SolicitaDescargaEmitidos"), 2);
        assert_eq!(s.calls("Descargar"), 2);

        // The logs are the whole run's: authentication, requests, polls, downloads, imports.
        let log = format!("{err1}{err2}");
        assert!(
            log.contains("The SAT accepted a download request."),
            "{log}"
        );
        assert!(log.contains("Downloaded a SAT package."), "{log}");
        assert!(log.contains("TRACE"), "traced");
        for (what, text) in [("stderr", &log), ("stdout", &format!("{out1}{out2}{csv}"))] {
            assert_no_secret(&fiel, what, text);
        }
        let doctor = s.cuadra(&["doctor"], &trace).await;
        let (o, e) = text(&doctor);
        assert_no_secret(&fiel, "doctor", &format!("{o}{e}"));
    }
}

/// The daemon (`cuadra run`, the connector every second) is killed with SIGKILL once both requests are pending,
/// then started again after the poll delay: it resumes from the ledger, asks nothing twice and imports once.
#[tokio::test]
async fn daemon_killed_while_pending_resumes() {
    for b in backends().await {
        let fiel = generated_fiel(365);
        let s = setup(b, &fiel, "schedule = \"* * * * * *\"").await;
        let mut daemon = s.daemon();
        let pending = eventually(30, || async {
            let st = state(&s.app.store).await;
            st.requests.len() == 2 && st.requests.iter().all(|r| r.state == RowState::Pending)
        })
        .await;
        assert!(
            pending,
            "the daemon sent both requests: {:?}",
            s.fake.calls()
        );
        daemon.start_kill().expect("SIGKILL");
        daemon.wait().await.expect("reaped");
        assert_eq!(s.calls("SolicitaDescargaEmitidos"), 2);
        assert_eq!(
            s.calls("VerificaSolicitudDescarga") + s.calls("Descargar"),
            0
        );

        let_time_pass(&s.app.store, Duration::minutes(2)).await;
        let mut daemon = s.daemon();
        // Done, and the daemon's run over (its lease given back). The kill may land inside a run (one a second):
        // that run's lease then stands until it expires (30 s without renewal) and the new daemon starts after it.
        let done = eventually(90, || async {
            let st = state(&s.app.store).await;
            let leased: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM leases WHERE name = 'connector:sat'")
                    .fetch_one(s.app.store.pool())
                    .await
                    .unwrap_or(1);
            st.requests.iter().all(|r| r.state == RowState::Done)
                && invoices(&s.app.store).await.len() == 2
                && leased == 0
        })
        .await;
        daemon.start_kill().expect("SIGKILL");
        daemon.wait().await.expect("reaped");
        assert!(
            done,
            "{:#?} {:?}",
            state(&s.app.store).await,
            s.fake.calls()
        );

        let q = s.fake.calls_of("SolicitaDescargaEmitidos");
        assert_eq!(q.len(), 2, "nothing asked twice: {q:?}");
        assert!(q.iter().all(|c| c.code == 5000));
        assert_eq!(s.calls("VerificaSolicitudDescarga"), 2);
        assert_eq!(s.calls("Descargar"), 2, "each package downloaded once");
        assert_eq!(s.app.store.count("invoices").await.unwrap(), 2);
        let got: Vec<String> = invoices(&s.app.store)
            .await
            .into_iter()
            .map(|r| r.0)
            .collect();
        let mut want = s.uuids.to_vec();
        want.sort();
        assert_eq!(got, want);

        // `cuadra sync sat` afterwards: everything done, nothing asked.
        let before = s.fake.calls().len();
        let o = s.cuadra(&["sync", "sat"], &[]).await;
        let (out, err) = text(&o);
        assert!(o.status.success(), "{out}{err}");
        assert!(
            out.starts_with("sat: 0 deliveries (0 new) in 1 batches"),
            "{out}"
        );
        assert_eq!(s.fake.calls().len(), before);
    }
}

/// `cuadra doctor` prints the FIEL's RFC, serial and expiry; warns when it expires within 30 days; with a wrong
/// password says so in one line and exits non-zero.
#[tokio::test]
async fn doctor_checks_the_fiel() {
    for b in backends().await {
        let fiel = generated_fiel(400);
        let s = setup(b, &fiel, "").await;
        let o = s.cuadra(&["doctor"], &[]).await;
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{out}{err}");
        let until = (Utc::now() + Duration::days(400))
            .format("%Y-%m-%d")
            .to_string();
        let line = out
            .lines()
            .find(|l| l.starts_with("ok    sat: "))
            .unwrap_or_default();
        assert!(
            line.contains("FIEL of RFC EKU9003173C9 serial 30001000000500009999"),
            "{out}"
        );
        assert!(line.contains(&format!("valid until {until}")), "{out}");
        assert!(
            line.ends_with("(399 days)") || line.ends_with("(400 days)"),
            "{out}"
        );
        println!("{out}");

        // Expiring soon: a warning line, still ok.
        let soon = generated_fiel(10);
        let s2 = setup(b, &soon, "").await;
        let o = s2.cuadra(&["doctor"], &[]).await;
        let (out, _) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{out}");
        assert!(out.contains("warn  sat: the FIEL expires in "), "{out}");
        println!("{out}");

        // Wrong password: one line, exit 1.
        std::fs::write(&fiel.password_file, "not-the-password\n").unwrap();
        let o = s.cuadra(&["doctor"], &[]).await;
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{out}{err}");
        let sat: Vec<&str> = out.lines().filter(|l| l.contains("sat:")).collect();
        assert_eq!(sat.len(), 1, "{out}");
        assert!(
            sat[0].starts_with("fail  sat: ") && sat[0].contains("the FIEL password is wrong"),
            "{out}"
        );
        assert!(!out.contains("not-the-password") && !err.contains("not-the-password"));
        println!("{out}");
        // And `cuadra sync sat` stops with the same message, asking nothing.
        let o = s.cuadra(&["sync", "sat"], &[]).await;
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{out}{err}");
        assert!(err.contains("the FIEL password is wrong"), "{err}");
        assert!(s.fake.calls().is_empty());
        println!("{err}");
    }
}

/// The SAT's test FIEL from the shared corpus in `cuadra doctor`.
#[tokio::test]
async fn doctor_with_the_sat_test_fiel() {
    let Some(fiel) = super::support::corpus_fiel() else {
        return;
    };
    for b in backends().await {
        let s = setup(b, &fiel, "").await;
        let o = s.cuadra(&["doctor"], &[]).await;
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{out}{err}");
        assert!(
            out.contains("ok    sat: FIEL of RFC EKU9003173C9 serial 30001000000500003415 valid until 2027-05-17"),
            "{out}"
        );
    }
}

/// Every key can come from the environment: the password (`CUADRA__CONNECTORS__SAT__PASSWORD`, which wins over
/// `password_file`), `window_days` and `recibidos` as strings. A password written in the TOML is refused.
#[tokio::test]
async fn environment_overrides_and_the_password_rules() {
    for b in backends().await {
        let fiel = generated_fiel(365);
        let s = setup(b, &fiel, "").await;
        std::fs::remove_file(&fiel.password_file).unwrap();
        let env = [
            ("CUADRA__CONNECTORS__SAT__PASSWORD", fiel.password.as_str()),
            ("CUADRA__CONNECTORS__SAT__WINDOW_DAYS", "3"),
            ("CUADRA__CONNECTORS__SAT__RECIBIDOS", "true"),
        ];
        let o = s.cuadra(&["sync", "sat"], &env).await;
        let (out, err) = text(&o);
        assert!(o.status.success(), "{out}{err}");
        let today = (Utc::now() - Duration::hours(6)).date_naive();
        let from = today - Duration::days(3);
        let to = today - Duration::days(1);
        for kind in [
            "emitidos/metadata",
            "emitidos/cfdi",
            "recibidos/metadata",
            "recibidos/cfdi",
        ] {
            assert!(
                out.contains(&format!("daily/{kind}/{from}/{to} ")),
                "{kind}: {out}"
            );
        }
        assert_eq!(
            s.calls("SolicitaDescargaRecibidos"),
            2,
            "{:?}",
            s.fake.calls()
        );
        assert_no_secret(&fiel, "sync", &format!("{out}{err}"));

        // Written to the file only: building the app from it fails, which is the point.
        let db = fresh_db(b).await;
        let toml = sat_toml(
            &fiel,
            &s.fake.base_url(),
            &format!("password = \"{}\"", fiel.password),
        );
        crate::helpers::test_settings(&db, &toml);
        let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_cuadra"))
            .arg("--config")
            .arg(config_path(&db))
            .arg("doctor")
            .env_remove("CUADRA_CONFIG")
            .output()
            .await
            .expect("run cuadra");
        let (out, err) = text(&o);
        assert_ne!(o.status.code(), Some(0));
        assert!(err.contains("connectors.sat.password: the FIEL password must not be written in the configuration file"), "{err}");
        assert_no_secret(&fiel, "doctor", &format!("{out}{err}"));
    }
}
