//! Signature building blocks shared by the handlers: HMAC-SHA256, hex signatures compared in constant time (the
//! SDK's comparison), `k=v,k=v` header parsing, timestamp tolerance and HTTP Basic credentials.

use base64::Engine;
use chrono::{DateTime, Utc};
use cuadra_sdk::{WebhookError, WebhookRequest};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The SDK's constant-time comparison, under the short name the handlers use.
pub(crate) use cuadra_sdk::constant_time_eq as ct_eq;

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 of the concatenation of `parts`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return [0; 32],
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// Whether any of the hex `candidates` is the HMAC-SHA256 of `parts`, compared in constant time.
pub(crate) fn any_hex_matches(key: &[u8], parts: &[&[u8]], candidates: &[&str]) -> bool {
    let expected = hmac_sha256(key, parts);
    let mut ok = false;
    for c in candidates {
        if let Ok(bytes) = hex::decode(c.trim()) {
            ok |= ct_eq(&bytes, &expected);
        }
    }
    ok
}

/// Splits `t=1,v1=ab,v1=cd` into (key, value) pairs: on `,`, then on the first `=`, keys trimmed and lower-cased.
pub(crate) fn kv_pairs(header: &str) -> Vec<(String, String)> {
    header
        .split(',')
        .filter_map(|item| {
            let (k, v) = item.split_once('=')?;
            Some((k.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect()
}

/// A header by lower-case name.
pub(crate) fn header<'a>(req: &'a WebhookRequest<'_>, name: &str) -> Option<&'a str> {
    req.headers.get(name).map(String::as_str)
}

/// Refuses a signed timestamp more than `tolerance_secs` away from `now`, in the past or the future.
pub(crate) fn check_tolerance(
    ts_secs: i64,
    now: DateTime<Utc>,
    tolerance_secs: u64,
) -> Result<(), WebhookError> {
    let skew = now.timestamp().saturating_sub(ts_secs).unsigned_abs();
    if skew > tolerance_secs {
        return Err(WebhookError::Unauthorized(format!(
            "signature timestamp is {skew} s away from now, outside the {tolerance_secs} s tolerance"
        )));
    }
    Ok(())
}

/// Whether the request's `Authorization: Basic …` carries exactly `user` and `password` (constant time).
pub(crate) fn basic_auth_matches(req: &WebhookRequest<'_>, user: &str, password: &str) -> bool {
    let Some(value) = header(req, "authorization") else {
        return false;
    };
    let Some((scheme, token)) = value.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(token.trim()) else {
        return false;
    };
    let Some(colon) = decoded.iter().position(|b| *b == b':') else {
        return false;
    };
    let (u, p) = decoded.split_at(colon);
    let p = p.get(1..).unwrap_or_default();
    // Evaluate both comparisons so timing does not reveal which part was wrong.
    let user_ok = ct_eq(u, user.as_bytes());
    let pass_ok = ct_eq(p, password.as_bytes());
    user_ok & pass_ok
}
