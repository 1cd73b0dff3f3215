//! Phase (c), reconcile: over a copy of an imported scenario, `cuadra reconcile` is killed at random points (up to
//! three times; the dead run's lease is expired as 30 s would) and run again until it ends: the allocations,
//! exceptions and balances equal a clean run's.

use super::dump::{assert_same, dump};
use super::support::{backends, import_steps, iterations, run_ok, run_or_kill, timed_run};
use super::support::{Db, Rng, Tally};
use std::time::{Duration, Instant};

/// A database with the whole scenario imported and nothing reconciled.
pub async fn imported(b: super::support::Backend) -> Db {
    let db = Db::fresh(b).await;
    db.write_config("");
    for args in import_steps() {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        run_ok(&db, &a).await;
    }
    db
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_killed_at_random_points() {
    for b in backends().await {
        let started = Instant::now();
        let template = imported(b).await;
        let clean = Db::copy_of(&template).await;
        clean.write_config("");
        let (code, took) = timed_run(&clean, &["reconcile"]).await;
        let want = dump(&clean).await;

        let mut tally = Tally::default();
        let max = took + took / 4 + Duration::from_millis(100);
        for i in 0..iterations() {
            let mut rng = Rng::new("reconcile", b, i);
            let db = Db::copy_of(&template).await;
            db.write_config("");
            let mut kills = 0;
            loop {
                let after = if kills < 3 {
                    rng.delay(max)
                } else {
                    Duration::from_secs(600)
                };
                match run_or_kill(db.cuadra(&["reconcile"]), after).await {
                    Some(got) => {
                        assert_eq!(got, code, "{b:?} iteration {i}\n{}", db.logs());
                        break;
                    }
                    None => {
                        kills += 1;
                        tally.kills += 1;
                        db.expire_leases().await;
                    }
                }
            }
            assert_same(
                &format!("{b:?} reconcile iteration {i} ({kills} kills)"),
                &want,
                &dump(&db).await,
                &db.logs(),
            );
            tally.passed("reconcile", b);
        }
        tally.print("reconcile", b, started);
    }
}
