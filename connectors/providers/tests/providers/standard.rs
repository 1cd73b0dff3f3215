//! Standard Webhooks: the spec's published example (checked against an independent HMAC computation), round trip,
//! rotation, tampering and tolerance.

use crate::support::*;
use cuadra_providers::standard_webhooks::{headers as sign_headers, sign, verify, Secret};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const TS: i64 = 1_614_265_330;
const BODY: &[u8] = br#"{"test": 2432232314}"#;
const EXPECTED: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

fn hdrs(sig: &str, ts: i64) -> std::collections::BTreeMap<String, String> {
    headers(&[
        ("webhook-id", ID),
        ("webhook-timestamp", &ts.to_string()),
        ("webhook-signature", sig),
    ])
}

#[test]
fn spec_example() {
    let secret = Secret::parse(SECRET).expect("secret");
    assert_eq!(sign(&secret, ID, TS, BODY), EXPECTED);
    verify(&secret, &hdrs(EXPECTED, TS), BODY, at(TS), 300).expect("verifies");
    let rotated = format!("v1,AAAA v1a,xyz {EXPECTED}");
    verify(&secret, &hdrs(&rotated, TS), BODY, at(TS + 10), 300).expect("any v1 of several");
}

#[test]
fn tampering_and_staleness_are_refused() {
    let secret = Secret::parse(SECRET).expect("secret");
    unauthorized(verify(
        &secret,
        &hdrs(EXPECTED, TS),
        br#"{"test": 2432232315}"#,
        at(TS),
        300,
    ));
    unauthorized(verify(&secret, &hdrs(EXPECTED, TS + 1), BODY, at(TS), 300));
    unauthorized(verify(
        &secret,
        &hdrs("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=", TS),
        BODY,
        at(TS),
        300,
    ));
    unauthorized(verify(
        &secret,
        &hdrs(EXPECTED, TS),
        BODY,
        at(TS + 301),
        300,
    ));
    unauthorized(verify(
        &secret,
        &hdrs(EXPECTED, TS),
        BODY,
        at(TS - 301),
        300,
    ));
    unauthorized(verify(
        &secret,
        &headers(&[("webhook-id", ID)]),
        BODY,
        at(TS),
        300,
    ));
    let other = Secret::parse("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").expect("secret");
    unauthorized(verify(&other, &hdrs(EXPECTED, TS), BODY, at(TS), 300));
}

#[test]
fn round_trip_and_secret_rules() {
    let secret = Secret::from_bytes(b"0123456789abcdef0123456789abcdef".to_vec());
    let body = br#"{"id":"evt","type":"invoice.updated"}"#;
    let hs: std::collections::BTreeMap<String, String> =
        sign_headers(&secret, "msg_1", 1_768_494_000, body)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    verify(&secret, &hs, body, at(1_768_494_000), 300).expect("round trip");
    use secrecy::ExposeSecret;
    let again = Secret::parse(secret.to_whsec().expose_secret()).expect("reparse");
    assert_eq!(sign(&again, "m", 1, b"x"), sign(&secret, "m", 1, b"x"));
    assert!(Secret::parse("whsec_!!!").is_err());
    assert!(Secret::parse("whsec_AAAA").is_err(), "too short");
    assert_eq!(format!("{secret:?}"), "Secret(whsec_…)");
}
