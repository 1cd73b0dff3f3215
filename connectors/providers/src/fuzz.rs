//! The fuzzing entry: arbitrary headers and bodies through verify and handle of every provider with known test
//! secrets, and through the mapping functions the confirming fetches feed. Used by
//! `fuzz/fuzz_targets/webhooks.rs` and by this crate's stand-in loop test; it must never panic.
//!
//! Input layout: byte 0 selects the provider (low 3 bits) and whether to sign the body validly (bit 7) so the
//! parsers are reached; then `name: value` header lines up to an empty line; the rest is the body.

use crate::{build, mercadopago, openpay, stripe, ProviderSettings};
use chrono::{DateTime, Utc};
use cuadra_sdk::standard_webhooks::SigningKey;
use cuadra_sdk::{CompanyContext, WebhookRequest};
use secrecy::SecretString;
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

const NOW: i64 = 1_700_000_000;
const STRIPE_SECRET: &str = "whsec_fuzz_secret";
const MP_SECRET: &str = "fuzz_mp_secret";
const STD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const CONEKTA_PUBLIC_PEM: &str = include_str!("../tests/fixtures/conekta_test_public.pem");
/// Fuzz input header standing for the URL query string (the request carries it as a field).
const QUERY: &str = "x-cuadra-query";

/// Runs one fuzz input. Never panics on any input (that is what is being tested).
pub fn fuzz_webhooks(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let (mut headers, body) = split_headers(rest);
    let now = DateTime::from_timestamp(NOW, 0).unwrap_or_default();
    let sign = sel & 0x80 != 0;
    let tz = chrono_tz::America::Mexico_City;
    let ctx = CompanyContext {
        rfcs: Vec::new(),
        own_accounts: HashSet::from(["646180157000123457".to_string()]),
        now,
    };
    match sel & 0x07 {
        0 => {
            if sign {
                let t = NOW.to_string();
                let v1 = hex::encode(crate::sig::hmac_sha256(
                    STRIPE_SECRET.as_bytes(),
                    &[t.as_bytes(), b".", body],
                ));
                headers.insert("stripe-signature".into(), format!("t={t},v1={v1}"));
            }
            let mut s = settings(Some(STRIPE_SECRET));
            s.tolerance_secs = Some(300);
            run("stripe", &s, &headers, body, now, &ctx);
        }
        1 => {
            let mut s = settings(None);
            s.public_key = Some(CONEKTA_PUBLIC_PEM.to_string());
            run("conekta", &s, &headers, body, now, &ctx);
            if sign {
                if let Ok(v) = serde_json::from_slice(body) {
                    let _ = crate::conekta::map_event(&v, tz);
                }
            }
        }
        2 => {
            if let Ok(v) = serde_json::from_slice(body) {
                let text = String::from_utf8_lossy(body);
                let _ = openpay::map_charge(&v, &text, tz);
                let _ = openpay::map_refund(&v, &text, tz);
                let _ = stripe::map_event(&v, tz);
            }
        }
        3 => {
            let _ = mercadopago::map_payment(body, tz);
            let id = mercadopago::data_id(headers.get(QUERY).map(String::as_str), body);
            let rid = headers.get("x-request-id").cloned();
            let sig = headers.get("x-signature").cloned().unwrap_or_default();
            let _ = mercadopago::verify_signature(
                MP_SECRET,
                &sig,
                id.as_deref(),
                rid.as_deref(),
                now,
                300,
            );
        }
        4 => {
            let mut s = settings(None);
            s.allow_unauthenticated = true;
            run("stp", &s, &headers, body, now, &ctx);
            let _ = crate::stp::parse_estado(body);
        }
        5 => {
            if let Ok(key) = SigningKey::parse(STD_SECRET) {
                if sign {
                    for (k, v) in key.headers("msg_fuzz", NOW, body) {
                        headers.insert(k.to_string(), v);
                    }
                }
                let _ = key.verify(&headers, body, NOW, 300);
            }
            let _ = SigningKey::parse(&String::from_utf8_lossy(body));
        }
        6 => {
            let mut s = settings(Some("fuzz-password"));
            s.webhook_user = Some("fuzz".into());
            s.merchant_id = Some("mfuzz".into());
            s.api_key = Some(SecretString::from("sk_fuzz"));
            // Verification only: handle would call the API.
            if let Ok(h) = build("openpay", &s) {
                let req = WebhookRequest::new(&headers, body, now);
                let _ = h.verify(&req);
            }
        }
        _ => {
            let mut s = settings(None);
            s.webhook_secret = Some(SecretString::from("stp-secret"));
            s.secret_header = Some("x-stp-secret".into());
            s.allowed_ips = vec!["127.0.0.0/8".into(), "::1".into()];
            if let Ok(h) = build("stp", &s) {
                let req = WebhookRequest::new(&headers, body, now);
                let _ = h.verify(&req);
            }
        }
    }
}

fn settings(secret: Option<&str>) -> ProviderSettings {
    ProviderSettings {
        webhook_secret: secret.map(SecretString::from),
        ..ProviderSettings::default()
    }
}

fn run(
    kind: &str,
    s: &ProviderSettings,
    headers: &BTreeMap<String, String>,
    body: &[u8],
    now: DateTime<Utc>,
    ctx: &CompanyContext,
) {
    let Ok(handler) = build(kind, s) else {
        return;
    };
    let req = WebhookRequest {
        query: headers.get(QUERY).map(String::as_str),
        ..WebhookRequest::new(headers, body, now)
    };
    if let Ok(verified) = handler.verify(&req) {
        let _ = block_on(handler.handle(ctx, &verified));
    }
}

/// Splits `name: value` lines (until an empty line) from the body; names lower-cased.
fn split_headers(data: &[u8]) -> (BTreeMap<String, String>, &[u8]) {
    let mut headers = BTreeMap::new();
    let mut rest = data;
    loop {
        let Some(nl) = rest.iter().position(|b| *b == b'\n') else {
            return (headers, rest);
        };
        let (line, tail) = rest.split_at(nl);
        let tail = tail.get(1..).unwrap_or_default();
        if line.is_empty() {
            return (headers, tail);
        }
        let line = String::from_utf8_lossy(line);
        match line.split_once(':') {
            Some((k, v)) => {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                rest = tail;
            }
            None => return (headers, rest),
        }
    }
}

/// Polls a future that never waits on I/O (Stripe, Conekta and STP handling) to completion.
pub fn block_on<F: Future>(fut: F) -> Option<F::Output> {
    fn noop_raw() -> RawWaker {
        fn clone(_: *const ()) -> RawWaker {
            noop_raw()
        }
        fn noop(_: *const ()) {}
        static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
        RawWaker::new(std::ptr::null(), &VTABLE)
    }
    // SAFETY: the vtable's functions do nothing and never dereference the data pointer.
    let waker = unsafe { Waker::from_raw(noop_raw()) };
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    for _ in 0..1000 {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return Some(v);
        }
    }
    None
}
