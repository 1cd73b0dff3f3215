//! `SatSource`: the request lifecycle as a durable state machine over [`SatState`]. Each `pull` plans windows, then
//! does one bounded step — download one due package, or send one planned request, or poll the requests whose
//! next poll is due — and returns the new checkpoint with whatever it delivered. A request is recorded in the
//! returned checkpoint before any other call; if a crash loses that checkpoint, the next send of the same criteria
//! gets 5005 (duplicate) and the row is re-sent with its start moved back one second (a new criteria for SAT).

use crate::checkpoint;
use crate::client::{Endpoints, SatClient};
use crate::fiel::Fiel;
use crate::plan;
use crate::settings::SatSettings;
use crate::steps::{download_step, poll_step, send_step};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cuadra_sdk::{Batch, Checkpoint, CompanyContext, ConnectorError, Source};
use std::sync::{Arc, Mutex};

/// The SAT connector.
pub struct SatSource {
    settings: SatSettings,
    client: Mutex<Option<Arc<SatClient>>>,
}

impl std::fmt::Debug for SatSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SatSource")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl SatSource {
    /// A source whose FIEL is loaded (and checked) on the first pull, with that pull's clock.
    pub fn new(settings: SatSettings) -> Self {
        SatSource {
            settings,
            client: Mutex::new(None),
        }
    }

    fn build_client(&self, fiel: Fiel) -> Result<Arc<SatClient>, ConnectorError> {
        let endpoints = Endpoints {
            request_base_url: self
                .settings
                .request_base_url
                .trim_end_matches('/')
                .to_string(),
            download_base_url: self
                .settings
                .download_base_url
                .trim_end_matches('/')
                .to_string(),
        };
        SatClient::new(Arc::new(fiel), endpoints)
            .map(Arc::new)
            .map_err(|e| ConnectorError::Config(e.to_string()))
    }

    fn client(&self, now: DateTime<Utc>) -> Result<Arc<SatClient>, ConnectorError> {
        if let Some(c) = self.client.lock().ok().and_then(|g| g.clone()) {
            return Ok(c);
        }
        let password = self.settings.password.as_ref().ok_or_else(|| {
            ConnectorError::Config(
                "the FIEL password is not set (password_file or CUADRA__CONNECTORS__<NAME>__PASSWORD)".into(),
            )
        })?;
        let fiel = Fiel::load(
            &self.settings.certificate_path,
            &self.settings.key_path,
            password,
            now,
        )
        .map_err(|e| ConnectorError::Config(e.to_string()))?;
        let client = self.build_client(fiel)?;
        if let Ok(mut g) = self.client.lock() {
            *g = Some(client.clone());
        }
        Ok(client)
    }

    /// Checks the FIEL against the company and the clock.
    fn check_fiel(&self, fiel: &Fiel, ctx: &CompanyContext) -> Result<(), ConnectorError> {
        if !ctx
            .rfcs
            .iter()
            .any(|r| r.trim().eq_ignore_ascii_case(fiel.rfc()))
        {
            return Err(ConnectorError::Config(format!(
                "the FIEL in {} belongs to RFC {}, which is not one of company.rfcs ({})",
                self.settings.certificate_path.display(),
                fiel.rfc(),
                ctx.rfcs.join(", ")
            )));
        }
        let days = fiel.days_to_expiry(ctx.now);
        if ctx.now > fiel.not_after() {
            return Err(ConnectorError::Config(format!(
                "the FIEL in {} expired on {}",
                self.settings.certificate_path.display(),
                fiel.not_after()
            )));
        }
        if days < 30 {
            tracing::warn!(
                days_to_expiry = days,
                "The FIEL expires soon; renew it at the SAT."
            );
        }
        Ok(())
    }
}

#[async_trait]
impl Source for SatSource {
    #[tracing::instrument(skip_all, fields(connector = "sat"))]
    async fn pull(
        &self,
        ctx: &CompanyContext,
        checkpoint: Option<Checkpoint>,
    ) -> Result<Batch, ConnectorError> {
        let now = ctx.now;
        let mut state = checkpoint::load(checkpoint.as_ref())?;
        let client = self.client(now)?;
        self.check_fiel(client.fiel(), ctx)?;
        let added = plan::plan(&mut state, &self.settings, now);
        if added > 0 {
            tracing::info!(added, "Planned new SAT download requests.");
        }
        plan::prune(&mut state, now);

        let mut deliveries = Vec::new();
        if let Some(d) = download_step(&client, &mut state, now).await? {
            deliveries.push(d);
        } else if !send_step(&client, &mut state, now).await? {
            poll_step(&client, &mut state, now).await?;
        }
        state.clock_skew_secs = client.skew_secs();
        let more = immediate_work(&state, now);
        Ok(Batch {
            deliveries,
            checkpoint: checkpoint::store(&state),
            more,
        })
    }
}

pub use crate::steps::{
    delivery_kind, immediate_work, MAX_IN_FLIGHT, MAX_PACKAGE_ATTEMPTS, MAX_POLLS_PER_PULL,
    MAX_SENDS, PENDING_DEADLINE_HOURS,
};
