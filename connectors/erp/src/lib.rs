//! Cuadra ERP connectors: what the ERP knows comes in (customers, invoices with due dates, ERP ids and
//! residuals), what Cuadra learns goes out (allocations, invoice updates) through the daemon's outbox.
//!
//! Two kinds:
//! - `http`: any ERP, iPaaS or internal system. Outbound events signed per Standard Webhooks ([`http::HttpSink`]),
//!   a JSON pull endpoint ([`http::HttpSource`]), an inbound webhook ([`http::HttpWebhook`]).
//! - `odoo`: Odoo 16–18 over JSON-RPC ([`odoo::OdooSource`], [`odoo::OdooSink`]).
//!
//! The crate classifies failures (retryable, rate limited, permanent); the daemon owns the outbox, retries,
//! backoff and dead letters.
//!
//! # Layout
//! - [`settings`]: `HttpSettings`, `OdooSettings` (the keys of a `[connectors.NAME]` table).
//! - [`kind`]: `HttpKind`, `OdooKind`, the connector contract the daemon's registry lists.
//! - [`net`]: HTTP client, rate limiter, status/transport classification.
//! - [`json`]: exact amounts and dates from JSON.
//! - [`http`]: the generic HTTP connector and its JSON shapes.
//! - [`odoo`]: JSON-RPC client, row mapping, source and sink.
//! - `fuzz` (feature `fuzzing`): entry points for fuzz targets.

#[cfg(feature = "fuzzing")]
pub mod fuzz;
pub mod http;
pub mod json;
pub mod kind;
pub mod net;
pub mod odoo;
pub mod settings;

pub use kind::{HttpKind, OdooKind};
pub use settings::{HttpSettings, OdooSettings};

use cuadra_sdk::ConnectorError;
use secrecy::{ExposeSecret, SecretString};
use std::path::PathBuf;
use std::sync::Arc;

/// What an `http` connector table builds: each side exists when its keys are set.
#[derive(Debug)]
pub struct HttpConnector {
    /// With `events_url` (requires `signing_secret`).
    pub sink: Option<http::HttpSink>,
    /// With `pull_url`.
    pub source: Option<http::HttpSource>,
    /// With `webhook_secret`.
    pub webhook: Option<http::HttpWebhook>,
}

/// What an `odoo` connector table builds (both share one logged-in client).
#[derive(Debug)]
pub struct OdooConnector {
    pub source: odoo::OdooSource,
    pub sink: odoo::OdooSink,
    pub client: Arc<odoo::OdooClient>,
}

fn secret(
    inline: &Option<SecretString>,
    file: &Option<PathBuf>,
    key: &str,
) -> Result<Option<SecretString>, ConnectorError> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(ConnectorError::Config(format!(
            "give either {key} or {key}_file, not both"
        ))),
        (Some(s), None) => Ok(Some(s.clone())),
        (None, Some(p)) => settings::read_secret_file(p, key)
            .map(Some)
            .map_err(ConnectorError::Config),
        (None, None) => Ok(None),
    }
}

fn check_kind(kind: &Option<String>, expected: &str) -> Result<(), ConnectorError> {
    match kind {
        Some(k) if k != expected => Err(ConnectorError::Config(format!(
            "kind: expected {expected:?}, found {k:?}"
        ))),
        _ => Ok(()),
    }
}

/// Builds the sides of an `http` connector. Errors name the key and what was expected.
pub fn build_http(s: &HttpSettings) -> Result<HttpConnector, ConnectorError> {
    check_kind(&s.kind, "http")?;
    let timeout = s.timeout_secs.unwrap_or(settings::DEFAULT_TIMEOUT_SECS);
    let cfg = ConnectorError::Config;
    let sink = match &s.events_url {
        None => None,
        Some(url) => {
            let secret = secret(&s.signing_secret, &s.signing_secret_file, "signing_secret")?
                .ok_or_else(|| cfg("signing_secret: required with events_url (whsec_…)".into()))?;
            let key = cuadra_sdk::standard_webhooks::SigningKey::parse(secret.expose_secret())
                .map_err(|e| cfg(format!("signing_secret: {e}")))?;
            check_url("events_url", url)?;
            Some(http::HttpSink::new(url.clone(), key, timeout, s.rate_per_sec).map_err(cfg)?)
        }
    };
    let source = match &s.pull_url {
        None => None,
        Some(url) => {
            check_url("pull_url", url)?;
            let token = secret(&s.pull_token, &s.pull_token_file, "pull_token")?;
            Some(http::HttpSource::new(url.clone(), token, timeout, s.rate_per_sec).map_err(cfg)?)
        }
    };
    let webhook = match secret(&s.webhook_secret, &s.webhook_secret_file, "webhook_secret")? {
        None => None,
        Some(secret) => {
            let key = cuadra_sdk::standard_webhooks::SigningKey::parse(secret.expose_secret())
                .map_err(|e| cfg(format!("webhook_secret: {e}")))?;
            let tolerance = s.tolerance_secs.unwrap_or(settings::DEFAULT_TOLERANCE_SECS);
            Some(http::HttpWebhook::new(key, tolerance))
        }
    };
    Ok(HttpConnector {
        sink,
        source,
        webhook,
    })
}

fn check_url(key: &str, url: &str) -> Result<(), ConnectorError> {
    let t = url.trim();
    if (t.starts_with("http://") || t.starts_with("https://")) && reqwest::Url::parse(t).is_ok() {
        Ok(())
    } else {
        Err(ConnectorError::Config(format!(
            "{key}: expected an http(s) URL, found {}",
            json::preview(t)
        )))
    }
}

/// Builds an `odoo` connector. Nothing is called until the first pull or delivery.
pub fn build_odoo(s: &OdooSettings) -> Result<OdooConnector, ConnectorError> {
    check_kind(&s.kind, "odoo")?;
    let cfg = ConnectorError::Config;
    check_url("url", &s.url)?;
    let api_key = secret(&s.api_key, &s.api_key_file, "api_key")?
        .ok_or_else(|| cfg("api_key: required (or api_key_file)".into()))?;
    for (key, v) in [("database", &s.database), ("username", &s.username)] {
        if v.trim().is_empty() {
            return Err(cfg(format!("{key}: must not be empty")));
        }
    }
    let client = Arc::new(
        odoo::OdooClient::new(
            &s.url,
            s.database.clone(),
            s.username.clone(),
            api_key,
            s.timeout_secs.unwrap_or(settings::DEFAULT_TIMEOUT_SECS),
            s.rate_per_sec,
        )
        .map_err(cfg)?,
    );
    Ok(OdooConnector {
        source: odoo::OdooSource::new(
            client.clone(),
            s.page_size.unwrap_or(settings::DEFAULT_PAGE_SIZE),
        ),
        sink: odoo::OdooSink::new(client.clone(), s.journal.clone()),
        client,
    })
}
