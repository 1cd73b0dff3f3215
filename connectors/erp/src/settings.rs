//! Settings of the two connector kinds, `http` and `odoo`: every key a `[connectors.NAME]` table may carry.
//! Unknown keys are errors; secrets are `SecretString` and never printed. [`crate::build_http`] and
//! [`crate::build_odoo`] read `*_file` variants themselves ([`HttpSettings::resolve_secret_files`] /
//! [`OdooSettings::resolve_secret_files`] do it ahead for callers that want to).

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Default request timeout, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
/// Default replay window of inbound Standard Webhooks timestamps, in seconds.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;
/// Default page size asked of Odoo `search_read`.
pub const DEFAULT_PAGE_SIZE: u32 = 200;

/// `kind = "http"`: outbound events to `events_url`, pull from `pull_url`, inbound webhook at `/webhooks/NAME`.
///
/// | key | meaning |
/// |---|---|
/// | `events_url` | where events are POSTed (optional: no sink without it) |
/// | `signing_secret` / `signing_secret_file` | `whsec_…` secret signing outbound events |
/// | `pull_url` | JSON endpoint listing customers and invoices (optional: no source without it) |
/// | `pull_token` / `pull_token_file` | bearer token sent to `pull_url` (optional) |
/// | `schedule` | cron of the pull (used by the daemon) |
/// | `webhook_secret` / `webhook_secret_file` | `whsec_…` secret the ERP signs inbound webhooks with |
/// | `tolerance_secs` | inbound timestamp window (default 300) |
/// | `timeout_secs` | per-request timeout (default 30) |
/// | `rate_per_sec` | at most this many requests per second from this connector (default unlimited) |
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub events_url: Option<String>,
    #[serde(default)]
    pub signing_secret: Option<SecretString>,
    #[serde(default)]
    pub signing_secret_file: Option<PathBuf>,
    #[serde(default)]
    pub pull_url: Option<String>,
    #[serde(default)]
    pub pull_token: Option<SecretString>,
    #[serde(default)]
    pub pull_token_file: Option<PathBuf>,
    #[serde(default)]
    pub schedule: Option<String>,
    #[serde(default)]
    pub webhook_secret: Option<SecretString>,
    #[serde(default)]
    pub webhook_secret_file: Option<PathBuf>,
    #[serde(default)]
    pub tolerance_secs: Option<u64>,
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    #[serde(default)]
    pub rate_per_sec: Option<f64>,
}

/// `kind = "odoo"`: Odoo 16–18 over JSON-RPC at `{url}/jsonrpc`.
///
/// | key | meaning |
/// |---|---|
/// | `url` | base URL of the Odoo instance (`https://erp.example.com`) |
/// | `database` | database name |
/// | `username` | login of the integration user |
/// | `api_key` / `api_key_file` | the user's API key (used as the JSON-RPC password) |
/// | `schedule` | cron of the pull (used by the daemon) |
/// | `journal` | name or code of the bank/cash journal payments are registered in |
/// | `page_size` | records per `search_read` page (default 200) |
/// | `timeout_secs` | per-request timeout (default 30) |
/// | `rate_per_sec` | at most this many RPC calls per second (default unlimited) |
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OdooSettings {
    #[serde(default)]
    pub kind: Option<String>,
    pub url: String,
    pub database: String,
    pub username: String,
    #[serde(default)]
    pub api_key: Option<SecretString>,
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
    #[serde(default)]
    pub schedule: Option<String>,
    #[serde(default)]
    pub journal: Option<String>,
    #[serde(default)]
    pub page_size: Option<u32>,
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    #[serde(default)]
    pub rate_per_sec: Option<f64>,
}

fn resolve(
    inline: &mut Option<SecretString>,
    file: &mut Option<PathBuf>,
    key: &str,
) -> Result<(), String> {
    let Some(path) = file.take() else {
        return Ok(());
    };
    if inline.is_some() {
        return Err(format!("give either {key} or {key}_file, not both"));
    }
    *inline = Some(read_secret_file(&path, key)?);
    Ok(())
}

/// Reads a secret file, trimming the trailing newline. The error names the key and path, never the content.
pub fn read_secret_file(path: &Path, key: &str) -> Result<SecretString, String> {
    let secret = cuadra_sdk::read_secret_file(path)
        .map_err(|e| format!("{key}_file {}: cannot read: {e}", path.display()))?;
    if secret.expose_secret().is_empty() {
        return Err(format!("{key}_file {}: the file is empty", path.display()));
    }
    Ok(secret)
}

impl HttpSettings {
    /// Reads `signing_secret_file`, `webhook_secret_file` and `pull_token_file` into their inline keys.
    pub fn resolve_secret_files(&mut self) -> Result<(), String> {
        resolve(
            &mut self.signing_secret,
            &mut self.signing_secret_file,
            "signing_secret",
        )?;
        resolve(
            &mut self.webhook_secret,
            &mut self.webhook_secret_file,
            "webhook_secret",
        )?;
        resolve(
            &mut self.pull_token,
            &mut self.pull_token_file,
            "pull_token",
        )
    }
}

impl OdooSettings {
    /// Reads `api_key_file` into `api_key`.
    pub fn resolve_secret_files(&mut self) -> Result<(), String> {
        resolve(&mut self.api_key, &mut self.api_key_file, "api_key")
    }
}
