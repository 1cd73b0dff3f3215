//! Phase (a), import: `cuadra import customers`, `cuadra import cfdi FOLDER` and `cuadra import statement FOLDER`
//! of a generated scenario, each killed at random points (up to three times, the migration of the fresh database
//! included) and run again until it ends, then `cuadra reconcile`: the ledger equals a clean run's.

use super::dump::{assert_same, dump};
use super::support::{backends, import_steps, iterations, run_or_kill, timed_run, Db, Rng, Tally};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_killed_at_random_points() {
    for b in backends().await {
        let started = Instant::now();
        // The clean run: each step's exit code and duration.
        let clean = Db::fresh(b).await;
        clean.write_config("");
        let mut steps = Vec::new();
        for args in import_steps() {
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            let (code, took) = timed_run(&clean, &a).await;
            steps.push((args, code, took));
        }
        timed_run(&clean, &["reconcile"]).await;
        let want = dump(&clean).await;
        assert!(
            want.iter().any(|l| l.starts_with("allocation|")),
            "{b:?}: the clean run allocates payments\n{}",
            clean.logs()
        );

        let mut tally = Tally::default();
        for i in 0..iterations() {
            let mut rng = Rng::new("import", b, i);
            let db = Db::fresh(b).await;
            db.write_config("");
            for (args, code, took) in &steps {
                let a: Vec<&str> = args.iter().map(String::as_str).collect();
                let max = *took + *took / 4 + Duration::from_millis(100);
                let mut kills = 0;
                loop {
                    let after = if kills < 3 {
                        rng.delay(max)
                    } else {
                        Duration::from_secs(600)
                    };
                    let t = Instant::now();
                    let r = run_or_kill(db.cuadra(&a), after).await;
                    if std::env::var_os("CUADRA_FAULT_VERBOSE").is_some() {
                        eprintln!(
                            "{b:?} {i} {} after {after:?}: {r:?} in {:?}",
                            a[1],
                            t.elapsed()
                        );
                    }
                    match r {
                        Some(got) => {
                            assert_eq!(
                                got,
                                *code,
                                "{b:?} iteration {i}: cuadra {} after {kills} kills\n{}",
                                a.join(" "),
                                db.logs()
                            );
                            break;
                        }
                        None => {
                            kills += 1;
                            tally.kills += 1;
                        }
                    }
                }
            }
            timed_run(&db, &["reconcile"]).await;
            assert_same(
                &format!("{b:?} import iteration {i}"),
                &want,
                &dump(&db).await,
                &db.logs(),
            );
            tally.passed("import", b);
        }
        tally.print("import", b, started);
    }
}
