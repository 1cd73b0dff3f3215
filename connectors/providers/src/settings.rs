//! `ProviderSettings`: every key a `[connectors.NAME]` table of kind `stripe`, `conekta`, `openpay`, `mercadopago`
//! or `stp` may carry. Unknown keys are errors; secrets are `SecretString` and never printed.

use cuadra_sdk::ConnectorError;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::path::PathBuf;

/// Default replay window for timestamped signatures (Stripe, Mercado Pago), in seconds.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;
/// Default timeout of a confirming call to a provider's API, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 10;
/// Default company time zone used to turn provider instants into booking dates.
pub const DEFAULT_TIME_ZONE: &str = "America/Mexico_City";

/// The settings of one provider connector. [`crate::ProviderKind`] deserializes the connector's table into this
/// struct (the `kind` key included) and resolves `*_file` secrets with [`ProviderSettings::resolve_secret_files`]
/// before calling [`crate::build`].
///
/// | key | used by | meaning |
/// |---|---|---|
/// | `webhook_secret` | stripe, mercadopago, openpay, stp | Stripe endpoint secret (`whsec_…`), Mercado Pago signature secret, Openpay webhook Basic password, STP shared secret |
/// | `webhook_user` | openpay, stp | user of the HTTP Basic credentials the provider sends |
/// | `tolerance_secs` | stripe, mercadopago | replay window of the signed timestamp (default 300; 0 = off, Mercado Pago only) |
/// | `public_key` / `public_key_file` | conekta | PEM of the webhook key's RSA public key |
/// | `api_base` | openpay, mercadopago | API base URL (defaults: `https://api.openpay.mx`, `https://api.mercadopago.com`) |
/// | `merchant_id` | openpay | merchant id in API paths |
/// | `api_key` | openpay, mercadopago | Openpay private key (`sk_…`) / Mercado Pago access token |
/// | `timeout_secs` | openpay, mercadopago | confirming-call timeout (default 10) |
/// | `time_zone` | all | IANA zone for booking dates (default America/Mexico_City) |
/// | `allowed_ips` | stp | peer IPs allowed to call (exact addresses) |
/// | `client_ip_header` | stp | take the client IP from this header (last entry) when behind a trusted proxy |
/// | `secret_header` | stp | header carrying `webhook_secret` |
/// | `allow_unauthenticated` | stp | accept calls with no configured check (default false) |
/// | `devolver_code` | stp | causa de devolución answered for a CLABE that is not ours (default 1, cuenta inexistente) |
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// The connector kind as written in the table; checked against `build`'s `kind` when present.
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub webhook_secret: Option<SecretString>,
    #[serde(default)]
    pub webhook_secret_file: Option<PathBuf>,
    #[serde(default)]
    pub webhook_user: Option<String>,
    #[serde(default)]
    pub tolerance_secs: Option<u64>,
    #[serde(default)]
    pub public_key: Option<String>,
    #[serde(default)]
    pub public_key_file: Option<PathBuf>,
    #[serde(default)]
    pub api_base: Option<String>,
    #[serde(default)]
    pub merchant_id: Option<String>,
    #[serde(default)]
    pub api_key: Option<SecretString>,
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    #[serde(default)]
    pub time_zone: Option<String>,
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    #[serde(default)]
    pub client_ip_header: Option<String>,
    #[serde(default)]
    pub secret_header: Option<String>,
    #[serde(default)]
    pub allow_unauthenticated: bool,
    #[serde(default)]
    pub devolver_code: Option<u32>,
}

impl ProviderSettings {
    /// Reads `webhook_secret_file`, `api_key_file` and `public_key_file` into their inline keys (trailing newline
    /// trimmed). Giving both a key and its `_file` variant is an error.
    pub fn resolve_secret_files(&mut self) -> Result<(), ConnectorError> {
        if let Some(path) = self.webhook_secret_file.take() {
            if self.webhook_secret.is_some() {
                return Err(both("webhook_secret"));
            }
            self.webhook_secret = Some(SecretString::from(read_trimmed(
                &path,
                "webhook_secret_file",
            )?));
        }
        if let Some(path) = self.api_key_file.take() {
            if self.api_key.is_some() {
                return Err(both("api_key"));
            }
            self.api_key = Some(SecretString::from(read_trimmed(&path, "api_key_file")?));
        }
        if let Some(path) = self.public_key_file.take() {
            if self.public_key.is_some() {
                return Err(both("public_key"));
            }
            self.public_key = Some(read_trimmed(&path, "public_key_file")?);
        }
        Ok(())
    }

    pub(crate) fn tolerance_secs(&self) -> u64 {
        self.tolerance_secs.unwrap_or(DEFAULT_TOLERANCE_SECS)
    }

    pub(crate) fn time_zone(&self) -> Result<chrono_tz::Tz, ConnectorError> {
        let name = self.time_zone.as_deref().unwrap_or(DEFAULT_TIME_ZONE);
        name.parse().map_err(|_| {
            ConnectorError::Config(format!(
                "key time_zone: expected an IANA time zone such as America/Mexico_City, found {name:?}"
            ))
        })
    }

    /// The webhook secret, or a configuration error naming the key and the kind that needs it.
    pub(crate) fn required_secret(&self, kind: &str) -> Result<SecretString, ConnectorError> {
        if self.webhook_secret_file.is_some() {
            return Err(ConnectorError::Config(format!(
                "connector kind {kind}: webhook_secret_file was not resolved before building the connector"
            )));
        }
        let secret = self.webhook_secret.clone().ok_or_else(|| {
            ConnectorError::Config(format!(
                "connector kind {kind}: key webhook_secret (or webhook_secret_file) is required"
            ))
        })?;
        check_secret(kind, &secret)?;
        Ok(secret)
    }

    pub(crate) fn required_api_key(&self, kind: &str) -> Result<SecretString, ConnectorError> {
        if self.api_key_file.is_some() {
            return Err(ConnectorError::Config(format!(
                "connector kind {kind}: api_key_file was not resolved before building the connector"
            )));
        }
        self.api_key.clone().ok_or_else(|| {
            ConnectorError::Config(format!(
                "connector kind {kind}: key api_key (or api_key_file) is required for the confirming API call"
            ))
        })
    }

    pub(crate) fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS).max(1))
    }

    /// The API base URL without a trailing slash; must be http(s).
    pub(crate) fn api_base(&self, default: &str) -> Result<String, ConnectorError> {
        let base = self
            .api_base
            .as_deref()
            .unwrap_or(default)
            .trim_end_matches('/');
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(ConnectorError::Config(format!(
                "key api_base: expected an http:// or https:// URL, found {base:?}"
            )));
        }
        Ok(base.to_string())
    }
}

/// The shortest `webhook_secret` accepted, in bytes. Every secret the providers generate is longer (Stripe's
/// `whsec_` + 32 characters, Mercado Pago's 64 hex digits); Openpay's Basic password and STP's shared secret are
/// chosen by the company and can be made this long. A shorter one can be guessed, and then anyone can post a
/// payment that verifies.
pub const MIN_SECRET_BYTES: usize = 16;

/// Refuses an empty or too-short `webhook_secret` (without printing it).
pub(crate) fn check_secret(kind: &str, secret: &SecretString) -> Result<(), ConnectorError> {
    let len = secret.expose_secret().trim().len();
    // An empty secret would let anyone sign a payment with the empty key.
    if len == 0 {
        return Err(ConnectorError::Config(format!(
            "connector kind {kind}: key webhook_secret (or the file webhook_secret_file names) is empty; \
             set the secret the provider gave you"
        )));
    }
    if len < MIN_SECRET_BYTES {
        return Err(ConnectorError::Config(format!(
            "connector kind {kind}: key webhook_secret (or the file webhook_secret_file names) has {len} bytes; \
             at least {MIN_SECRET_BYTES} are required (a short secret can be guessed): use the secret the provider \
             generated, or make one with `openssl rand -hex 24`"
        )));
    }
    Ok(())
}

fn both(key: &str) -> ConnectorError {
    ConnectorError::Config(format!(
        "keys {key} and {key}_file are both set; give only one"
    ))
}

fn read_trimmed(path: &std::path::Path, key: &str) -> Result<String, ConnectorError> {
    let text = cuadra_sdk::read_secret_file(path).map_err(|e| {
        ConnectorError::Config(format!("key {key}: cannot read {}: {e}", path.display()))
    })?;
    Ok(text.expose_secret().to_string())
}
