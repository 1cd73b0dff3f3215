//! The confirming GET a handler makes to a provider's API (Openpay charges, Mercado Pago payments), with failures
//! classified for the webhook answer: temporary (the provider retries) or not understood.

use cuadra_sdk::{ConnectorError, WebhookError};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

/// Largest API response read, in bytes.
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// How the request authenticates; the secret is only ever put in a header.
pub(crate) enum ApiAuth<'a> {
    /// HTTP Basic with the secret as user and an empty password (Openpay).
    BasicUser(&'a SecretString),
    /// `Authorization: Bearer <secret>` (Mercado Pago).
    Bearer(&'a SecretString),
}

#[derive(Clone)]
pub(crate) struct ApiClient {
    client: reqwest::Client,
}

impl ApiClient {
    pub(crate) fn new(timeout: Duration) -> Result<Self, ConnectorError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("cuadra-providers/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConnectorError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(ApiClient { client })
    }

    /// GETs `url` and returns the body of a 200 answer. `what` names the object for messages
    /// (`Openpay charge trx…`).
    pub(crate) async fn get(
        &self,
        url: &str,
        auth: ApiAuth<'_>,
        what: &str,
    ) -> Result<Vec<u8>, WebhookError> {
        let req = self.client.get(url).header("accept", "application/json");
        let req = match auth {
            ApiAuth::BasicUser(key) => req.basic_auth(key.expose_secret(), Some("")),
            ApiAuth::Bearer(token) => req.bearer_auth(token.expose_secret()),
        };
        let resp = req.send().await.map_err(|e| {
            WebhookError::Retryable(format!(
                "confirming {what}: request failed: {}",
                e.without_url()
            ))
        })?;
        let status = resp.status();
        if status.as_u16() == 404 {
            return Err(WebhookError::Malformed(format!(
                "confirming {what}: the provider does not know it (404)"
            )));
        }
        if status.as_u16() == 401 || status.as_u16() == 403 {
            return Err(WebhookError::Retryable(format!(
                "confirming {what}: the provider refused our credentials ({status}); check api_key and merchant_id"
            )));
        }
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(WebhookError::Retryable(format!(
                "confirming {what}: the provider answered {status}"
            )));
        }
        if !status.is_success() {
            return Err(WebhookError::Malformed(format!(
                "confirming {what}: the provider answered {status}"
            )));
        }
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
        {
            return Err(WebhookError::Retryable(format!(
                "confirming {what}: response too large"
            )));
        }
        let bytes = resp.bytes().await.map_err(|e| {
            WebhookError::Retryable(format!(
                "confirming {what}: reading the response failed: {}",
                e.without_url()
            ))
        })?;
        if bytes.len() > MAX_RESPONSE_BYTES {
            return Err(WebhookError::Retryable(format!(
                "confirming {what}: response too large"
            )));
        }
        Ok(bytes.to_vec())
    }
}

/// Percent-encodes an id for use as one path segment (ids are normally `[A-Za-z0-9_-]`).
pub(crate) fn path_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
