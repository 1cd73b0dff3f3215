//! `[connectors.NAME]` settings of `kind = "sat"`. The FIEL password is never read from TOML: [`crate::SatKind`]
//! resolves it (from `password_file` or the `CUADRA__CONNECTORS__NAME__PASSWORD` environment variable) and sets
//! [`SatSettings::password`] before building the source.

use crate::client::{DEFAULT_DOWNLOAD_BASE_URL, DEFAULT_REQUEST_BASE_URL};
use chrono::NaiveDate;
use secrecy::SecretString;
use std::fmt;
use std::path::{Path, PathBuf};

/// Settings of one SAT connector. Unknown keys are errors.
#[derive(Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SatSettings {
    /// Path of the FIEL certificate (`.cer`, DER). Required.
    pub certificate_path: PathBuf,
    /// Path of the FIEL private key (`.key`, encrypted PKCS#8 DER). Required.
    pub key_path: PathBuf,
    /// File holding the FIEL password (trailing newline ignored). Optional; the environment variable
    /// `CUADRA__CONNECTORS__NAME__PASSWORD` is the alternative. A `password` key in TOML is refused.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The FIEL password, resolved by the caller; never deserialized.
    #[serde(skip)]
    pub password: Option<SecretString>,
    /// When the daemon runs this connector (cron, seconds first). Default `"0 0 * * * *"` (hourly).
    #[serde(default = "default_schedule")]
    pub schedule: String,
    /// Days covered by the daily sliding window of issued CFDI (ending yesterday). Default 7.
    #[serde(default = "default_window_days")]
    pub window_days: u32,
    /// First day of the initial backfill (local date); none = no backfill. Clamped to SAT's 6-year limit.
    #[serde(default)]
    pub backfill_from: Option<NaiveDate>,
    /// Also download received CFDI (payables). Default false.
    #[serde(default)]
    pub recibidos: bool,
    /// Base URL of the authentication, query and verification services. Default: SAT production.
    #[serde(default = "default_request_base_url")]
    pub request_base_url: String,
    /// Base URL of the download service. Default: SAT production.
    #[serde(default = "default_download_base_url")]
    pub download_base_url: String,
}

fn default_schedule() -> String {
    "0 0 * * * *".into()
}
fn default_window_days() -> u32 {
    7
}
fn default_request_base_url() -> String {
    DEFAULT_REQUEST_BASE_URL.into()
}
fn default_download_base_url() -> String {
    DEFAULT_DOWNLOAD_BASE_URL.into()
}

impl fmt::Debug for SatSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SatSettings")
            .field("certificate_path", &self.certificate_path)
            .field("key_path", &self.key_path)
            .field("password_file", &self.password_file)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("schedule", &self.schedule)
            .field("window_days", &self.window_days)
            .field("backfill_from", &self.backfill_from)
            .field("recibidos", &self.recibidos)
            .field("request_base_url", &self.request_base_url)
            .field("download_base_url", &self.download_base_url)
            .finish()
    }
}

impl SatSettings {
    /// Settings with defaults for the given FIEL files and password.
    pub fn new(certificate_path: PathBuf, key_path: PathBuf, password: SecretString) -> Self {
        SatSettings {
            certificate_path,
            key_path,
            password_file: None,
            password: Some(password),
            schedule: default_schedule(),
            window_days: default_window_days(),
            backfill_from: None,
            recibidos: false,
            request_base_url: default_request_base_url(),
            download_base_url: default_download_base_url(),
        }
    }

    /// Fills `password` from `password_file` when it is not set yet. Errors name the file.
    pub fn resolve_password_file(&mut self) -> Result<(), String> {
        if self.password.is_some() {
            return Ok(());
        }
        if let Some(path) = &self.password_file {
            self.password = Some(read_password_file(path)?);
        }
        Ok(())
    }
}

/// Reads a password file without its trailing line breaks.
pub fn read_password_file(path: &Path) -> Result<SecretString, String> {
    cuadra_sdk::read_secret_file(path)
        .map_err(|e| format!("cannot read password_file {}: {e}", path.display()))
}
