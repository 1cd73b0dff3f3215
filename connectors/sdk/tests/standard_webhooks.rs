//! Standard Webhooks: the spec's published example, rotation, round trip, tampering, tolerance and secret rules
//! (moved here from the two former copies in `cuadra-providers` and `cuadra-erp`).

use base64::Engine;
use cuadra_sdk::standard_webhooks::{SignatureError, SigningKey};
use std::collections::BTreeMap;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const TS: i64 = 1_614_265_330;
const BODY: &[u8] = br#"{"test": 2432232314}"#;
const EXPECTED: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

fn headers(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn hdrs(sig: &str, ts: i64) -> BTreeMap<String, String> {
    headers(&[
        ("webhook-id", ID),
        ("webhook-timestamp", &ts.to_string()),
        ("webhook-signature", sig),
    ])
}

#[test]
fn standard_webhooks_spec_vector() {
    // The example from the Standard Webhooks reference libraries.
    let key = SigningKey::parse(SECRET).expect("valid test secret");
    let sig = key.sign(ID, TS, BODY);
    assert_eq!(sig, EXPECTED);
    assert!(key
        .verify_parts(ID, "1614265330", &sig, BODY, TS, 300)
        .is_ok());
    assert_eq!(
        key.verify_parts(ID, "1614265330", &sig, b"x", TS, 300),
        Err(SignatureError::NoMatch)
    );
    assert!(matches!(
        key.verify_parts(ID, "1614265330", &sig, BODY, 1614266330, 300),
        Err(SignatureError::Stale(_))
    ));
    assert!(SigningKey::parse("whsec_short").is_err());
}

#[test]
fn spec_example_through_headers_and_rotation() {
    let key = SigningKey::parse(SECRET).expect("secret");
    key.verify(&hdrs(EXPECTED, TS), BODY, TS, 300)
        .expect("verifies");
    let rotated = format!("v1,AAAA v1a,xyz {EXPECTED}");
    key.verify(&hdrs(&rotated, TS), BODY, TS + 10, 300)
        .expect("any v1 of several");
}

#[test]
fn tampering_and_staleness_are_refused() {
    let key = SigningKey::parse(SECRET).expect("secret");
    assert_eq!(
        key.verify(&hdrs(EXPECTED, TS), br#"{"test": 2432232315}"#, TS, 300),
        Err(SignatureError::NoMatch)
    );
    assert_eq!(
        key.verify(&hdrs(EXPECTED, TS + 1), BODY, TS, 300),
        Err(SignatureError::NoMatch)
    );
    assert_eq!(
        key.verify(
            &hdrs("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=", TS),
            BODY,
            TS,
            300
        ),
        Err(SignatureError::NoMatch)
    );
    assert_eq!(
        key.verify(&hdrs(EXPECTED, TS), BODY, TS + 301, 300),
        Err(SignatureError::Stale(301))
    );
    assert_eq!(
        key.verify(&hdrs(EXPECTED, TS), BODY, TS - 301, 300),
        Err(SignatureError::Stale(-301))
    );
    assert_eq!(
        key.verify(&headers(&[("webhook-id", ID)]), BODY, TS, 300),
        Err(SignatureError::Missing("webhook-timestamp"))
    );
    assert_eq!(
        key.verify(
            &hdrs(EXPECTED, TS).into_iter().take(0).collect(),
            BODY,
            TS,
            300
        ),
        Err(SignatureError::Missing("webhook-id"))
    );
    assert_eq!(
        key.verify(
            &hdrs(EXPECTED, TS)
                .into_iter()
                .filter(|(k, _)| k != "webhook-timestamp")
                .chain([("webhook-timestamp".to_string(), "soon".to_string())])
                .collect(),
            BODY,
            TS,
            300
        ),
        Err(SignatureError::BadTimestamp)
    );
    let other = SigningKey::parse("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").expect("secret");
    assert_eq!(
        other.verify(&hdrs(EXPECTED, TS), BODY, TS, 300),
        Err(SignatureError::NoMatch)
    );
}

#[test]
fn round_trip_and_secret_rules() {
    let bytes = b"0123456789abcdef0123456789abcdef";
    let whsec = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    );
    let key = SigningKey::parse(&whsec).expect("secret");
    let body = br#"{"id":"evt","type":"invoice.updated"}"#;
    let hs: BTreeMap<String, String> = key
        .headers("msg_1", 1_768_494_000, body)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    key.verify(&hs, body, 1_768_494_000, 300)
        .expect("round trip");
    let bare = SigningKey::parse(whsec.trim_start_matches("whsec_")).expect("prefix optional");
    assert_eq!(bare.sign("m", 1, b"x"), key.sign("m", 1, b"x"));
    assert!(SigningKey::parse("whsec_!!!").is_err());
    assert_eq!(
        SigningKey::parse("whsec_AAAA").err(),
        Some(SignatureError::SecretFormat),
        "too short"
    );
    assert_eq!(format!("{key:?}"), "SigningKey(whsec_…)");
}
