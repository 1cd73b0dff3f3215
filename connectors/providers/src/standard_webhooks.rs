//! Standard Webhooks (standardwebhooks.com) signing and verification, used for Cuadra's outbound events and the
//! generic HTTP connector's inbound side.
//!
//! Headers `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`: space-separated
//! `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` entries (several while a secret is being rotated). The secret
//! is written `whsec_<base64 key bytes>`; the HMAC key is the decoded bytes.

use crate::sig::{check_tolerance, ct_eq, hmac_sha256};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use cuadra_sdk::WebhookError;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use std::collections::BTreeMap;

pub const HEADER_ID: &str = "webhook-id";
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_SIGNATURE: &str = "webhook-signature";
/// The spec's recommended replay window, in seconds (either direction).
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;

/// A signing secret; its bytes never appear in Debug output.
pub struct Secret(SecretBox<Vec<u8>>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(whsec_…)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("a Standard Webhooks secret is whsec_ followed by base64 (at least 16 bytes decoded); this one is not")]
    Format,
}

impl Secret {
    /// Parses `whsec_<base64>` (the prefix may be omitted).
    pub fn parse(s: &str) -> Result<Secret, SecretError> {
        let t = s.trim();
        let b64 = t.strip_prefix("whsec_").unwrap_or(t);
        let bytes = STANDARD.decode(b64).map_err(|_| SecretError::Format)?;
        if bytes.len() < 16 {
            return Err(SecretError::Format);
        }
        Ok(Secret(SecretBox::new(Box::new(bytes))))
    }

    /// Parses a configured secret.
    pub fn from_config(s: &SecretString) -> Result<Secret, SecretError> {
        Secret::parse(s.expose_secret())
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Secret {
        Secret(SecretBox::new(Box::new(bytes)))
    }

    /// The `whsec_…` text (for showing once to an operator who creates an endpoint).
    pub fn to_whsec(&self) -> SecretString {
        SecretString::from(format!("whsec_{}", STANDARD.encode(self.0.expose_secret())))
    }

    fn key(&self) -> &[u8] {
        self.0.expose_secret()
    }
}

/// The `v1,<base64>` signature of one message.
pub fn sign(secret: &Secret, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let mac = hmac_sha256(
        secret.key(),
        &[msg_id.as_bytes(), b".", ts.as_bytes(), b".", body],
    );
    format!("v1,{}", STANDARD.encode(mac))
}

/// The three headers to send with a message.
pub fn headers(
    secret: &Secret,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> [(&'static str, String); 3] {
    [
        (HEADER_ID, msg_id.to_string()),
        (HEADER_TIMESTAMP, timestamp.to_string()),
        (HEADER_SIGNATURE, sign(secret, msg_id, timestamp, body)),
    ]
}

/// Verifies a received message from its (lower-case) headers at instant `now`.
pub fn verify(
    secret: &Secret,
    headers: &BTreeMap<String, String>,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance_secs: u64,
) -> Result<(), WebhookError> {
    let get = |name: &str| {
        headers
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| WebhookError::Unauthorized(format!("missing {name} header")))
    };
    verify_parts(
        secret,
        get(HEADER_ID)?,
        get(HEADER_TIMESTAMP)?,
        get(HEADER_SIGNATURE)?,
        body,
        now,
        tolerance_secs,
    )
}

/// Verifies from the three header values.
pub fn verify_parts(
    secret: &Secret,
    msg_id: &str,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance_secs: u64,
) -> Result<(), WebhookError> {
    let ts: i64 = timestamp.trim().parse().map_err(|_| {
        WebhookError::Unauthorized("webhook-timestamp is not a Unix timestamp".into())
    })?;
    check_tolerance(ts, now, tolerance_secs)?;
    let ts_text = ts.to_string();
    let expected = hmac_sha256(
        secret.key(),
        &[msg_id.as_bytes(), b".", ts_text.as_bytes(), b".", body],
    );
    let mut ok = false;
    for entry in signature.split(' ') {
        if let Some(b64) = entry.trim().strip_prefix("v1,") {
            if let Ok(bytes) = STANDARD.decode(b64) {
                ok |= ct_eq(&bytes, &expected);
            }
        }
    }
    if ok {
        Ok(())
    } else {
        Err(WebhookError::Unauthorized(
            "webhook-signature does not match the message".into(),
        ))
    }
}
