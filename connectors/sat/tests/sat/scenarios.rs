//! Scenarios against the fake SAT: the connector driven pull by pull with an injected clock shared with the fake.

use crate::common::{any_fiel, password, TestFielSource, NOW};
use chrono::Duration;
use cuadra_sat::checkpoint::{self, PackageState, RowState, SatState};
use cuadra_sat::{describe, SatSettings, SatSource};
use cuadra_sdk::{Batch, Checkpoint, CompanyContext, ConnectorError, Delivery, Source};
use cuadra_testkit::sat::FakeSat;

pub struct Harness {
    pub fake: FakeSat,
    pub source: SatSource,
    pub settings: SatSettings,
    pub ctx: CompanyContext,
    pub checkpoint: Option<Checkpoint>,
    /// Keeps a generated FIEL's files alive.
    pub _fiel_source: TestFielSource,
}

pub async fn harness(configure: impl FnOnce(&mut SatSettings)) -> Harness {
    let (fiel, fiel_source) = any_fiel();
    let fake = FakeSat::start(fiel.certificate_der())
        .await
        .expect("fake starts");
    fake.set_now(NOW());
    let (cer, key, pw) = fiel_source.paths();
    let mut settings = SatSettings::new(cer, key, password(pw));
    settings.request_base_url = fake.base_url();
    settings.download_base_url = fake.base_url();
    configure(&mut settings);
    let ctx = CompanyContext {
        rfcs: vec![fiel.rfc().to_string()],
        now: NOW(),
        ..Default::default()
    };
    Harness {
        source: SatSource::new(settings.clone()),
        fake,
        settings,
        ctx,
        checkpoint: None,
        _fiel_source: fiel_source,
    }
}

impl Harness {
    pub async fn try_pull(&mut self) -> Result<Batch, ConnectorError> {
        let batch = self.source.pull(&self.ctx, self.checkpoint.clone()).await?;
        self.checkpoint = Some(batch.checkpoint.clone());
        Ok(batch)
    }

    pub async fn pull(&mut self) -> Batch {
        self.try_pull().await.expect("pull succeeds")
    }

    pub fn advance(&mut self, d: Duration) {
        self.ctx.now += d;
        self.fake.set_now(self.ctx.now);
    }

    pub fn state(&self) -> SatState {
        checkpoint::load(self.checkpoint.as_ref()).expect("checkpoint readable")
    }

    /// Pulls while `more`, then lets 10 minutes pass; until every request is finished (or `rounds` run out).
    pub async fn drive(&mut self, rounds: usize) -> Vec<Delivery> {
        let mut out = Vec::new();
        for _ in 0..rounds {
            for _ in 0..50 {
                let b = self.pull().await;
                out.extend(b.deliveries);
                if !b.more {
                    break;
                }
            }
            let st = self.state();
            if !st.requests.is_empty() && st.requests.iter().all(|r| r.state.is_terminal()) {
                break;
            }
            self.advance(Duration::minutes(10));
        }
        out
    }
}

fn kinds(d: &[Delivery]) -> Vec<String> {
    let mut k: Vec<String> = d.iter().map(|d| d.kind.clone()).collect();
    k.sort();
    k
}

#[tokio::test]
async fn happy_path_delivers_packages_once() {
    let mut h = harness(|_| {}).await;
    // Two sends in a row share one token.
    assert!(h.pull().await.more);
    h.pull().await;
    assert_eq!(h.fake.calls_of("SolicitaDescargaEmitidos").len(), 2);
    assert_eq!(
        h.fake.calls_of("Autentica").len(),
        1,
        "the token is reused while valid"
    );
    let delivered = h.drive(10).await;
    assert_eq!(
        kinds(&delivered),
        vec!["sat-package-cfdi", "sat-package-metadata"]
    );
    assert!(delivered
        .iter()
        .all(|d| d.raw.starts_with(b"PK") && d.records.is_empty()));
    let st = h.state();
    assert_eq!(st.requests.len(), 2);
    assert!(
        st.requests
            .iter()
            .all(|r| r.state == RowState::Done && r.sends == 1),
        "{st:#?}"
    );
    assert_eq!(h.fake.calls_of("SolicitaDescargaEmitidos").len(), 2);
    assert_eq!(h.fake.calls_of("Descargar").len(), 2);
    let lines = describe(h.checkpoint.as_ref().expect("checkpoint"));
    assert!(
        lines
            .iter()
            .all(|l| l.state == RowState::Done && l.packages_done == 1),
        "{lines:?}"
    );
    // Nothing left to do: further pulls deliver nothing and ask nothing.
    let before = h.fake.calls().len();
    let b = h.pull().await;
    assert!(b.deliveries.is_empty() && !b.more);
    assert_eq!(h.fake.calls().len(), before);
}

#[tokio::test]
async fn token_expiry_mid_flow_reauthenticates() {
    let mut h = harness(|_| {}).await;
    h.fake.script(|s| {
        s.token_uses = Some(2);
        s.pending_polls = 2;
    });
    let delivered = h.drive(20).await;
    assert_eq!(delivered.len(), 2);
    let refused = h.fake.calls().iter().filter(|c| c.code == 401).count();
    assert!(refused >= 1, "the fake refused an expired token");
    assert!(h.fake.calls_of("Autentica").len() >= 2);
    // Expiry by the clock: after the token lifetime the client authenticates before calling.
    h.fake.script(|s| s.token_uses = None);
    let auths = h.fake.calls_of("Autentica").len();
    h.advance(Duration::days(1));
    h.drive(20).await;
    assert!(h.fake.calls_of("Autentica").len() > auths);
    assert_eq!(
        h.fake.calls().iter().filter(|c| c.code == 401).count(),
        refused
    );
}

#[tokio::test]
async fn no_data_finishes_without_packages() {
    let mut h = harness(|_| {}).await;
    h.fake.script(|s| s.no_data = true);
    let delivered = h.drive(10).await;
    assert!(delivered.is_empty());
    assert!(h
        .state()
        .requests
        .iter()
        .all(|r| r.state == RowState::NoData));
}

#[tokio::test]
async fn limit_reached_asks_again_with_a_new_period() {
    let mut h = harness(|_| {}).await;
    h.fake.script(|s| s.query_codes = [5002].into());
    let delivered = h.drive(10).await;
    assert_eq!(delivered.len(), 2);
    let queries = h.fake.calls_of("SolicitaDescargaEmitidos");
    assert_eq!(queries.len(), 3);
    assert_eq!(queries[0].code, 5002);
    assert_ne!(
        queries[0].subject, queries[1].subject,
        "the criteria changed"
    );
    let st = h.state();
    assert!(st.requests.iter().any(|r| r.variant == 1), "{st:#?}");
}

#[tokio::test]
async fn duplicate_after_lost_checkpoint_recovers() {
    let mut h = harness(|_| {}).await;
    let first = h.pull().await;
    assert!(first.more);
    assert_eq!(h.fake.calls_of("SolicitaDescargaEmitidos").len(), 1);
    // Crash: the daemon never stored that checkpoint.
    h.checkpoint = None;
    let delivered = h.drive(10).await;
    assert_eq!(delivered.len(), 2);
    let queries = h.fake.calls_of("SolicitaDescargaEmitidos");
    assert!(queries.iter().any(|c| c.code == 5005), "{queries:?}");
    let accepted: Vec<_> = queries
        .iter()
        .filter(|c| c.code == 5000)
        .map(|c| c.subject.clone())
        .collect();
    let mut unique = accepted.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), accepted.len(), "no criteria accepted twice");
}

#[tokio::test]
async fn failed_download_is_retried_later() {
    let mut h = harness(|_| {}).await;
    h.fake.script(|s| s.download_failures = 1);
    let delivered = h.drive(10).await;
    assert_eq!(delivered.len(), 2);
    let downloads = h.fake.calls_of("Descargar");
    assert_eq!(downloads.len(), 3);
    assert_eq!(downloads[0].code, 500);
    let st = h.state();
    let attempts: Vec<u32> = st
        .requests
        .iter()
        .flat_map(|r| r.packages.iter().map(|p| p.attempts))
        .collect();
    assert!(attempts.contains(&2), "{attempts:?}");
    assert!(st
        .requests
        .iter()
        .flat_map(|r| &r.packages)
        .all(|p| p.state == PackageState::Done));
}

#[tokio::test]
async fn restart_resumes_without_asking_twice() {
    let mut h = harness(|_| {}).await;
    h.fake.script(|s| s.pending_polls = 3);
    h.pull().await;
    h.pull().await;
    let st = h.state();
    assert!(
        st.requests.iter().all(|r| r.state == RowState::Pending),
        "{st:#?}"
    );
    // Drop the source (and its token); a new one starts from the stored checkpoint.
    h.source = SatSource::new(h.settings.clone());
    let delivered = h.drive(20).await;
    assert_eq!(delivered.len(), 2);
    let queries = h.fake.calls_of("SolicitaDescargaEmitidos");
    assert_eq!(queries.len(), 2, "nothing asked twice: {queries:?}");
    assert!(queries.iter().all(|c| c.code == 5000));
    assert_eq!(h.fake.calls_of("Descargar").len(), 2);
}

#[tokio::test]
async fn refuses_a_fiel_of_another_company() {
    let mut h = harness(|_| {}).await;
    h.ctx.rfcs = vec!["XAXX010101000".into()];
    let err = h.try_pull().await.expect_err("wrong company");
    assert!(matches!(err, ConnectorError::Config(_)), "{err:?}");
    assert!(err.to_string().contains("company.rfcs"), "{err}");
    assert!(h.fake.calls().is_empty());
}

#[tokio::test]
async fn clock_skew_is_reported() {
    let mut h = harness(|_| {}).await;
    h.fake.set_now(NOW() + Duration::minutes(10));
    let err = h.try_pull().await.expect_err("skewed clock");
    assert!(matches!(err, ConnectorError::Config(_)), "{err:?}");
    assert!(err.to_string().contains("clock"), "{err}");
}

#[tokio::test]
async fn backfill_is_split_and_processed() {
    let mut h = harness(|s| s.backfill_from = Some(NOW().date_naive() - Duration::days(70))).await;
    h.drive(40).await;
    let st = h.state();
    assert!(
        st.requests
            .iter()
            .filter(|r| r.key.starts_with("backfill/"))
            .count()
            >= 4,
        "{st:#?}"
    );
    assert!(
        st.requests.iter().all(|r| r.state == RowState::Done),
        "{st:#?}"
    );
}

#[tokio::test]
async fn a_signature_the_service_rejects_is_a_config_error() {
    let mut h = harness(|_| {}).await;
    let other = crate::common::make_fiel("EKU9003173C9", false, 3650).load(NOW());
    let fake = FakeSat::start(other.certificate_der()).await.expect("fake");
    fake.set_now(NOW());
    h.settings.request_base_url = fake.base_url();
    h.settings.download_base_url = fake.base_url();
    h.source = SatSource::new(h.settings.clone());
    let err = h.try_pull().await.expect_err("rejected");
    assert!(matches!(err, ConnectorError::Config(_)), "{err:?}");
    assert!(
        err.to_string().contains("rejected the authentication"),
        "{err}"
    );
    assert_eq!(fake.calls_of("Autentica").len(), 1);
    assert_eq!(fake.calls_of("Autentica")[0].code, 500);
}
