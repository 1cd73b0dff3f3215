//! Standard Webhooks (standardwebhooks.com) signing and verification, the one implementation: the ERP `http`
//! connector signs its outbound events and verifies inbound ones with it, the provider fuzz target drives it.
//!
//! Headers `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`: space-separated
//! `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` entries (several while a secret is being rotated). The secret
//! is written `whsec_<base64 key bytes>`; the HMAC key is the decoded bytes.

use crate::secrets::constant_time_eq;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;
use std::collections::BTreeMap;

pub const HEADER_ID: &str = "webhook-id";
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// A signing key; its bytes never appear in Debug output.
pub struct SigningKey(SecretBox<Vec<u8>>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(whsec_…)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("expected a secret written whsec_ followed by base64 of at least 16 bytes")]
    SecretFormat,
    #[error("missing {0} header")]
    Missing(&'static str),
    #[error("webhook-timestamp is not a Unix time in seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is {0} s away from now, outside the tolerance")]
    Stale(i64),
    #[error("no v1 signature matches")]
    NoMatch,
}

impl SigningKey {
    /// Parses `whsec_<base64>` (the prefix may be omitted).
    pub fn parse(s: &str) -> Result<SigningKey, SignatureError> {
        let t = s.trim();
        let b64 = t.strip_prefix("whsec_").unwrap_or(t);
        let bytes = STANDARD
            .decode(b64)
            .map_err(|_| SignatureError::SecretFormat)?;
        if bytes.len() < 16 {
            return Err(SignatureError::SecretFormat);
        }
        Ok(SigningKey(SecretBox::new(Box::new(bytes))))
    }

    /// HMAC-SHA256 of `id.timestamp.body`, with the timestamp as the text it was sent as.
    fn tag(&self, msg_id: &str, timestamp: &str, body: &[u8]) -> [u8; 32] {
        // HMAC accepts keys of any length, so this cannot fail; fall back to an empty-key MAC to stay panic-free.
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.expose_secret())
            .unwrap_or_else(|_| <Hmac<Sha256> as Mac>::new(&Default::default()));
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }

    /// The `v1,<base64>` signature of one message.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = self.tag(msg_id, &timestamp.to_string(), body);
        format!("v1,{}", STANDARD.encode(tag))
    }

    /// The three headers to send with a message.
    pub fn headers(
        &self,
        msg_id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> [(&'static str, String); 3] {
        [
            (HEADER_ID, msg_id.to_string()),
            (HEADER_TIMESTAMP, timestamp.to_string()),
            (HEADER_SIGNATURE, self.sign(msg_id, timestamp, body)),
        ]
    }

    /// Verifies a message from its three header values at Unix time `now` (constant-time comparison).
    pub fn verify_parts(
        &self,
        msg_id: &str,
        timestamp: &str,
        signatures: &str,
        body: &[u8],
        now: i64,
        tolerance_secs: u64,
    ) -> Result<(), SignatureError> {
        let ts: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| SignatureError::BadTimestamp)?;
        let skew = now.saturating_sub(ts);
        if skew.unsigned_abs() > tolerance_secs {
            return Err(SignatureError::Stale(skew));
        }
        let expected = self.tag(msg_id, timestamp.trim(), body);
        for candidate in signatures.split_whitespace() {
            let Some(b64) = candidate.strip_prefix("v1,") else {
                continue;
            };
            let Ok(tag) = STANDARD.decode(b64) else {
                continue;
            };
            if constant_time_eq(&tag, &expected) {
                return Ok(());
            }
        }
        Err(SignatureError::NoMatch)
    }

    /// Verifies from lower-case headers.
    pub fn verify(
        &self,
        headers: &BTreeMap<String, String>,
        body: &[u8],
        now: i64,
        tolerance_secs: u64,
    ) -> Result<(), SignatureError> {
        let get = |name: &'static str| {
            headers
                .get(name)
                .map(String::as_str)
                .ok_or(SignatureError::Missing(name))
        };
        self.verify_parts(
            get(HEADER_ID)?,
            get(HEADER_TIMESTAMP)?,
            get(HEADER_SIGNATURE)?,
            body,
            now,
            tolerance_secs,
        )
    }
}
