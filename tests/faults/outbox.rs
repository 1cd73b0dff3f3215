//! Phase (d), outbox delivery: over a copy of an imported and reconciled scenario, the daemon (`cuadra run` with an
//! `http` sink pointed at the fake receiver, `cuadra_testkit::erp::Receiver`) publishes and delivers every change;
//! it is killed at random points (one to three times) and started again until every message is delivered. The
//! receiver must have the same set of event ids as in a clean run, each id's body the same on every delivery and
//! equal to the clean run's (but for the enqueue `timestamp`); repeats are allowed only with the same id.

use super::dump::{assert_same, dump};
use super::reconcile::imported;
use super::support::{backends, eventually, iterations, kill, run_ok, Db, Rng, Tally};
use cuadra_testkit::erp::Receiver;
use std::collections::BTreeMap;
use std::time::Instant;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn config(db: &Db, receiver: &Receiver) {
    db.write_config(&format!(
        "[outbox]\nretry_schedule_secs = [1]\nclaim_secs = 1\nconcurrency = 4\n\
         [connectors.erp]\nkind = \"http\"\nevents_url = \"{}\"\nsigning_secret = \"{SECRET}\"\ntimeout_secs = 30\n",
        receiver.url()
    ));
}

/// Every message published and delivered: the outbox holds messages, none undelivered, and the receiver has
/// seen each of their ids.
async fn all_delivered(db: &Db, receiver: &Receiver) -> bool {
    let pool = db.pool().await;
    let counts: Result<(i64, i64), _> = sqlx::query_as(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN state = 'delivered' THEN 0 ELSE 1 END), 0) FROM outbox",
    )
    .fetch_one(&pool)
    .await;
    pool.close().await;
    let Ok((total, undelivered)) = counts else {
        return false;
    };
    let ids: std::collections::BTreeSet<String> =
        receiver.received().into_iter().map(|r| r.id).collect();
    total > 0 && undelivered == 0 && ids.len() as i64 >= total
}

/// The received events by id: the bodies (every delivery's must be the same) without the enqueue timestamp.
fn events(what: &str, receiver: &Receiver) -> BTreeMap<String, serde_json::Value> {
    let mut by_id: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for r in receiver.received() {
        if let Some(first) = by_id.get(&r.id) {
            assert_eq!(
                first, &r.body,
                "{what}: event {} delivered twice with different bodies",
                r.id
            );
        } else {
            by_id.insert(r.id.clone(), r.body.clone());
        }
    }
    by_id
        .into_iter()
        .map(|(id, body)| {
            let mut json: serde_json::Value =
                serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
            assert_eq!(
                json["id"].as_str(),
                Some(id.as_str()),
                "{what}: body id = webhook-id"
            );
            if let Some(o) = json.as_object_mut() {
                o.remove("timestamp");
            }
            (id, json)
        })
        .collect()
}

fn daemon(db: &Db) -> tokio::process::Child {
    db.cuadra(&["run"]).spawn().expect("start cuadra run")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_killed_at_random_points() {
    for b in backends().await {
        let started = Instant::now();
        let template = imported(b).await;
        run_ok(&template, &["reconcile"]).await;
        let ledger = dump(&template).await;

        let clean = Db::copy_of(&template).await;
        let receiver = Receiver::start(SECRET).await.expect("receiver");
        config(&clean, &receiver);
        let t = Instant::now();
        let mut d = daemon(&clean);
        let done = eventually(120, || all_delivered(&clean, &receiver)).await;
        let took = t.elapsed();
        kill(&mut d).await;
        assert!(
            done,
            "{b:?}: the clean run delivers everything\n{}",
            clean.logs()
        );
        let want = events(&format!("{b:?} clean"), &receiver);
        drop(receiver);

        let mut tally = Tally::default();
        let max = took + took / 4;
        for i in 0..iterations() {
            let what = format!("{b:?} outbox iteration {i}");
            let mut rng = Rng::new("outbox", b, i);
            let db = Db::copy_of(&template).await;
            let receiver = Receiver::start(SECRET).await.expect("receiver");
            config(&db, &receiver);
            let kills = 1 + rng.below(3);
            for _ in 0..kills {
                let mut d = daemon(&db);
                tokio::time::sleep(rng.delay(max)).await;
                kill(&mut d).await;
                tally.kills += 1;
                db.expire_leases().await;
            }
            let mut d = daemon(&db);
            let done = eventually(120, || all_delivered(&db, &receiver)).await;
            kill(&mut d).await;
            assert!(
                done,
                "{what}: every message delivered after {kills} kills\n{}",
                db.logs()
            );
            let got = events(&what, &receiver);
            let missing: Vec<&String> = want.keys().filter(|k| !got.contains_key(*k)).collect();
            let extra: Vec<&String> = got.keys().filter(|k| !want.contains_key(*k)).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{what}: event ids differ from the clean run's: missing {missing:?}, extra {extra:?}"
            );
            for (id, body) in &want {
                assert_eq!(
                    &got[id], body,
                    "{what}: event {id} differs from the clean run's"
                );
            }
            assert_same(&what, &ledger, &dump(&db).await, &db.logs());
            tally.passed("outbox", b);
        }
        tally.print("outbox", b, started);
    }
}
