//! The SAT Descarga Masiva connector end to end through the daemon, on SQLite and PostgreSQL: a fake SAT (real HTTP,
//! real SOAP, every signature checked against the FIEL certificate) started by the test, the connector configured
//! through TOML, driven by `run_source_once` with an injected clock and by the `cuadra` binary (`sync`, `run`,
//! `doctor`) on the real clock. The FIEL is made with openssl in the test; the SAT's test FIEL from the shared
//! corpus runs the happy path too when present.

mod binary;
mod support;

use crate::helpers::backends;
use chrono::Duration;
use cuadra_sat::checkpoint::{PackageState, RowState};
use support::{corpus_fiel, generated_fiel, harness, SatHarness, TestFiel};

/// Every request finished as `state`, each sent `sends` times.
async fn assert_rows(h: &SatHarness, state: RowState) {
    let st = h.state().await;
    assert_eq!(st.requests.len(), 2, "{st:#?}");
    assert!(st.requests.iter().all(|r| r.state == state), "{st:#?}");
}

/// The happy path: metadata and CFDI requests sent once, polled, their packages downloaded once and expanded into
/// the ledger (two invoices; the metadata cancels the second), then nothing more to ask.
async fn happy_path(h: SatHarness) {
    // First run: both requests are sent (metadata first), with one token; polls are due a minute later.
    let (deliveries, _) = h.run().await.expect("first run");
    assert_eq!(deliveries, 0);
    assert_eq!(h.calls("Autentica"), 1);
    assert_eq!(h.calls("SolicitaDescargaEmitidos"), 2);
    assert_rows(&h, RowState::Pending).await;
    let st = h.state().await;
    assert_eq!(
        st.requests[0].request_type,
        cuadra_sat::envelope::RequestType::Metadata
    );

    // The CFDI request finishes first, the metadata one a poll later.
    h.fake
        .script(|s| s.verify_states = [(2, 5000), (3, 5000)].into());
    h.advance(Duration::seconds(61));
    let (deliveries, new) = h.run().await.expect("second run");
    assert_eq!((deliveries, new), (1, 1), "the CFDI package");
    let want: Vec<(String, String)> = {
        let mut v: Vec<_> = h
            .docs
            .uuids
            .iter()
            .map(|u| (u.clone(), String::new()))
            .collect();
        v.sort();
        v
    };
    let got = h.invoices().await;
    assert_eq!(
        got.iter().map(|r| &r.0).collect::<Vec<_>>(),
        want.iter().map(|r| &r.0).collect::<Vec<_>>()
    );
    assert!(got.iter().all(|(_, s)| s != "cancelled"), "{got:?}");

    let meta = h.docs.metadata_zip.clone();
    h.fake.script(|s| s.package = meta);
    h.advance(Duration::minutes(3));
    let (deliveries, _) = h.run().await.expect("third run");
    assert_eq!(deliveries, 1, "the metadata package");
    assert_rows(&h, RowState::Done).await;
    let got = h.invoices().await;
    let status = |u: &str| {
        got.iter()
            .find(|r| r.0 == u)
            .map(|r| r.1.clone())
            .unwrap_or_default()
    };
    assert_ne!(status(&h.docs.uuids[0]), "cancelled", "{got:?}");
    assert_eq!(status(&h.docs.uuids[1]), "cancelled", "{got:?}");

    assert_eq!(
        h.calls("SolicitaDescargaEmitidos"),
        2,
        "asked once per window and kind"
    );
    assert_eq!(h.calls("VerificaSolicitudDescarga"), 3);
    assert_eq!(h.calls("Descargar"), 2, "each package downloaded once");
    assert!(
        h.fake
            .calls()
            .iter()
            .all(|c| c.code == 200 || c.code == 5000),
        "{:?}",
        h.fake.calls()
    );
    // Nothing left: a later run asks nothing and stores nothing new.
    let before = h.fake.calls().len();
    h.advance(Duration::minutes(10));
    assert_eq!(h.run().await.expect("idle run"), (0, 0));
    assert_eq!(h.fake.calls().len(), before);
    assert_eq!(h.app.store.count("invoices").await.unwrap(), 2);
}

#[tokio::test]
async fn happy_path_into_the_ledger() {
    for b in backends().await {
        happy_path(harness(b, generated_fiel(365), "").await).await;
    }
}

#[tokio::test]
async fn happy_path_with_the_sat_test_fiel() {
    for b in backends().await {
        let Some(fiel) = corpus_fiel() else { return };
        happy_path(harness(b, fiel, "").await).await;
    }
}

#[tokio::test]
async fn token_expiry_mid_flow() {
    for b in backends().await {
        let h = harness(b, generated_fiel(365), "").await;
        h.fake.script(|s| {
            s.token_uses = Some(2);
            s.pending_polls = 1;
        });
        h.drive(10).await;
        assert_rows(&h, RowState::Done).await;
        let refused = h.fake.calls().iter().filter(|c| c.code == 401).count();
        assert!(
            refused >= 1,
            "the fake refused a used-up token: {:?}",
            h.fake.calls()
        );
        assert!(h.calls("Autentica") >= 2);
        assert_eq!(
            h.calls("SolicitaDescargaEmitidos") - count_code(&h, "SolicitaDescargaEmitidos", 401),
            2
        );
        assert_eq!(h.invoices().await.len(), 2, "{b:?}");
        // Expiry by the clock: a day later the connector authenticates before calling, never with a stale token.
        h.fake.script(|s| s.token_uses = None);
        let auths = h.calls("Autentica");
        h.advance(Duration::days(1));
        h.run().await.expect("next day");
        assert!(h.calls("Autentica") > auths);
        assert_eq!(
            h.fake.calls().iter().filter(|c| c.code == 401).count(),
            refused
        );
    }
}

fn count_code(h: &SatHarness, op: &str, code: u32) -> usize {
    h.fake
        .calls_of(op)
        .iter()
        .filter(|c| c.code == code)
        .count()
}

#[tokio::test]
async fn no_data() {
    for b in backends().await {
        let h = harness(b, generated_fiel(365), "").await;
        h.fake.script(|s| s.no_data = true);
        assert_eq!(h.drive(10).await, 0);
        assert_rows(&h, RowState::NoData).await;
        assert!(h
            .state()
            .await
            .requests
            .iter()
            .all(|r| r.last_code == Some(5004)));
        assert_eq!(h.calls("Descargar"), 0);
        assert_eq!(h.app.store.count("invoices").await.unwrap(), 0);
        // Finished: nothing is asked again the same day.
        let before = h.fake.calls().len();
        h.advance(Duration::minutes(30));
        h.run().await.expect("idle run");
        assert_eq!(h.fake.calls().len(), before);
    }
}

#[tokio::test]
async fn limit_reached() {
    for b in backends().await {
        let h = harness(b, generated_fiel(365), "").await;
        h.fake.script(|s| s.query_codes = [5002].into());
        h.drive(10).await;
        assert_rows(&h, RowState::Done).await;
        let q = h.fake.calls_of("SolicitaDescargaEmitidos");
        assert_eq!(
            q.iter().map(|c| c.code).collect::<Vec<_>>(),
            vec![5002, 5000, 5000]
        );
        assert_ne!(q[0].subject, q[1].subject, "asked again with a new period");
        assert!(h.state().await.requests.iter().any(|r| r.variant == 1));
        assert_eq!(h.invoices().await.len(), 2);
    }
}

/// The checkpoint of the run that sent the requests is lost (a crash before it was stored): the service answers
/// 5005 to the same criteria, the connector asks with the period moved by one second, and imports once.
#[tokio::test]
async fn duplicate_request() {
    for b in backends().await {
        let h = harness(b, generated_fiel(365), "").await;
        h.run().await.expect("first run");
        assert_eq!(h.calls("SolicitaDescargaEmitidos"), 2);
        h.app
            .store
            .ingest("sat", &[], Some(("sat", &serde_json::Value::Null)))
            .await
            .unwrap();
        h.drive(10).await;
        assert_rows(&h, RowState::Done).await;
        let codes: Vec<u32> = h
            .fake
            .calls_of("SolicitaDescargaEmitidos")
            .iter()
            .map(|c| c.code)
            .collect();
        assert_eq!(codes, vec![5000, 5000, 5005, 5000, 5005, 5000], "{b:?}");
        assert!(h
            .state()
            .await
            .requests
            .iter()
            .all(|r| r.variant == 1 && r.sends == 2));
        assert_eq!(h.calls("Descargar"), 2);
        assert_eq!(h.invoices().await.len(), 2);
        assert_eq!(h.app.store.count("invoices").await.unwrap(), 2);
    }
}

#[tokio::test]
async fn package_fails_to_download_then_succeeds() {
    for b in backends().await {
        let h = harness(b, generated_fiel(365), "").await;
        h.fake.script(|s| s.download_failures = 1);
        h.drive(10).await;
        assert_rows(&h, RowState::Done).await;
        let d: Vec<u32> = h
            .fake
            .calls_of("Descargar")
            .iter()
            .map(|c| c.code)
            .collect();
        assert_eq!(d, vec![500, 5000, 5000], "{b:?}");
        let st = h.state().await;
        let attempts: Vec<u32> = st
            .requests
            .iter()
            .flat_map(|r| r.packages.iter().map(|p| p.attempts))
            .collect();
        assert_eq!(attempts.iter().sum::<u32>(), 3, "{st:#?}");
        assert!(st
            .requests
            .iter()
            .flat_map(|r| &r.packages)
            .all(|p| p.state == PackageState::Done));
        assert_eq!(
            h.calls("SolicitaDescargaEmitidos"),
            2,
            "a failed download does not ask again"
        );
        assert_eq!(h.invoices().await.len(), 2);
    }
}

/// A FIEL of another RFC than `company.rfcs`: the run fails with a message naming both; nothing is asked.
#[tokio::test]
async fn fiel_of_another_company_is_refused() {
    for b in backends().await {
        let mut fiel: TestFiel = generated_fiel(365);
        fiel.rfc = "AAA010101AAA".into(); // the company configured; the certificate says EKU9003173C9
        let h = harness(b, fiel, "").await;
        let e = h.run().await.expect_err("refused");
        let msg = format!("{e:#}");
        assert!(
            msg.contains("EKU9003173C9") && msg.contains("company.rfcs"),
            "{msg}"
        );
        assert!(h.fake.calls().is_empty(), "{:?}", h.fake.calls());
    }
}

/// Our clock ten minutes behind the SAT's: the service refuses the signed timestamp and the run fails with a
/// message that names the difference and the fix.
#[tokio::test]
async fn clock_skew_is_named() {
    for b in backends().await {
        let h = harness(b, generated_fiel(365), "").await;
        h.fake.set_now(chrono::Utc::now() + Duration::minutes(11));
        let e = h.run().await.expect_err("refused");
        let msg = format!("{e:#}");
        assert!(
            msg.contains("the SAT rejected the authentication")
                && msg.contains("sync the clock (NTP)"),
            "{msg}"
        );
        println!("{msg}");
        assert_eq!(h.calls("SolicitaDescargaEmitidos"), 0);
        assert!(h.state().await.requests.is_empty(), "nothing recorded");
    }
}
