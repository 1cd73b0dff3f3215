//! Phase (b), SAT sync: the daemon (`cuadra run`, the SAT connector every second) against the fake SAT
//! (`cuadra_testkit::sat::FakeSat`, serving the scenario's CFDI as one package), over a copy of a ledger holding the
//! scenario's customers and statements. It is killed at random points (one to three times); while it is down the
//! connector's timers are moved past the SAT's poll delay (what waiting would do) and dead leases expired; started
//! again, it must reach the ledger of a clean run (`cuadra sync sat` twice, then `cuadra reconcile`): the invoices
//! stored once, the payments allocated. The daemon reconciles by itself after the package arrives.

use super::dump::{assert_same, dump, same};
use super::support::{backends, eventually, iterations, kill, run_ok, scenario, Db, Rng, Tally};
use chrono::Duration as Span;
use cuadra_sat::checkpoint::{self, RowState, SatState};
use cuadra_sdk::Checkpoint;
use cuadra_testkit::sat::FakeSat;
use std::time::{Duration, Instant};

/// The SAT connector's table for the FIEL and the fake.
fn config(db: &Db, fiel: &super::fiel::Fiel, fake: &FakeSat) {
    db.write_config(&format!(
        "[connectors.sat]\nkind = \"sat\"\ncertificate_path = \"{}\"\nkey_path = \"{}\"\npassword_file = \"{}\"\n\
         request_base_url = \"{base}\"\ndownload_base_url = \"{base}\"\nschedule = \"* * * * * *\"\n",
        fiel.cer.display(),
        fiel.key.display(),
        fiel.password_file.display(),
        base = fake.base_url()
    ));
}

/// The connector's state stored in the ledger (none before its first run).
async fn state(db: &Db) -> Option<SatState> {
    let store = cuadra::store::Store::connect(&db.url, 1).await.ok()?;
    let cp = store.checkpoint("sat").await.ok().flatten();
    store.close().await;
    checkpoint::load(cp.map(Checkpoint).as_ref()).ok()
}

/// Lets `d` pass for the connector's timers (next poll, next retry) by moving them back in the stored state: what
/// waiting would do. Only while no daemon runs.
async fn let_time_pass(db: &Db, d: Span) {
    let Some(mut st) = state(db).await else {
        return;
    };
    for r in &mut st.requests {
        r.next_action_at = r.next_action_at.map(|t| t - d);
        for p in &mut r.packages {
            p.next_try_at = p.next_try_at.map(|t| t - d);
        }
    }
    let store = cuadra::store::Store::connect(&db.url, 1)
        .await
        .expect("store");
    store
        .ingest("sat", &[], Some(("sat", &checkpoint::store(&st).0)))
        .await
        .expect("store the checkpoint");
    store.close().await;
}

/// Both requests (metadata and CFDI) sent and known to the ledger.
async fn requests_sent(db: &Db) -> bool {
    state(db).await.is_some_and(|s| s.requests.len() >= 2)
}

/// The scenario's CFDI as one SAT package.
fn package() -> Vec<u8> {
    let mut files: Vec<_> = std::fs::read_dir(scenario().cfdi())
        .expect("cfdi folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    files.sort();
    let entries: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|p| {
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            (name, std::fs::read(p).expect("read cfdi"))
        })
        .collect();
    let refs: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    cuadra_testkit::package::stored_zip(&refs)
}

/// A database with the scenario's customers and statements, no CFDI.
async fn template(b: super::support::Backend) -> Db {
    let db = Db::fresh(b).await;
    db.write_config("");
    let s = scenario();
    run_ok(
        &db,
        &["import", "customers", &s.customers().display().to_string()],
    )
    .await;
    run_ok(
        &db,
        &["import", "statement", &s.statements().display().to_string()],
    )
    .await;
    db
}

async fn fake(fiel: &super::fiel::Fiel, package: &[u8]) -> FakeSat {
    let fake = FakeSat::start(&std::fs::read(&fiel.cer).expect("cer"))
        .await
        .expect("fake SAT starts");
    let p = package.to_vec();
    fake.script(|s| s.package = p);
    fake
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sat_sync_killed_at_random_points() {
    let fiel = super::fiel::generate(&scenario().rfc);
    let package = package();
    for b in backends().await {
        let started = Instant::now();
        let template = template(b).await;
        // The clean run: send, let the poll delay pass, poll and download, reconcile.
        let clean = Db::copy_of(&template).await;
        let sat = fake(&fiel, &package).await;
        config(&clean, &fiel, &sat);
        let t = Instant::now();
        run_ok(&clean, &["sync", "sat"]).await;
        let_time_pass(&clean, Span::minutes(2)).await;
        run_ok(&clean, &["sync", "sat"]).await;
        run_ok(&clean, &["reconcile"]).await;
        let took = t.elapsed();
        let st = state(&clean).await.expect("state");
        assert!(
            st.requests.len() == 2 && st.requests.iter().all(|r| r.state == RowState::Done),
            "{b:?}: the clean sync finishes: {st:#?}\n{}",
            clean.logs()
        );
        let want = dump(&clean).await;
        assert!(
            want.iter().any(|l| l.starts_with("invoice|")),
            "{b:?}: invoices came"
        );
        drop(sat);

        let mut tally = Tally::default();
        let max = took + took / 4 + Duration::from_secs(1);
        for i in 0..iterations() {
            let what = format!("{b:?} SAT iteration {i}");
            let mut rng = Rng::new("sat", b, i);
            let db = Db::copy_of(&template).await;
            let sat = fake(&fiel, &package).await;
            config(&db, &fiel, &sat);
            let wanted = 1 + rng.below(3);
            let mut kills = 0;
            loop {
                db.expire_leases().await;
                let_time_pass(&db, Span::minutes(2)).await;
                let mut d = db.cuadra(&["run"]).spawn().expect("start cuadra run");
                if kills < wanted {
                    tokio::time::sleep(rng.delay(max)).await;
                } else if !requests_sent(&db).await {
                    // The last restart must find both requests sent, or it would wait a real poll delay: kill the
                    // daemon once they are.
                    eventually(60, || requests_sent(&db)).await;
                } else {
                    let done = eventually(90, || async { same(&want, &dump(&db).await) }).await;
                    kill(&mut d).await;
                    if !done {
                        eprintln!(
                            "{what}: SAT calls {:?}\nstate {:#?}",
                            sat.calls(),
                            state(&db).await
                        );
                    }
                    break;
                }
                kill(&mut d).await;
                kills += 1;
                tally.kills += 1;
            }
            assert_same(
                &format!("{what} ({kills} kills)"),
                &want,
                &dump(&db).await,
                &db.logs(),
            );
            tally.passed("SAT sync", b);
        }
        tally.print("SAT sync", b, started);
    }
}
