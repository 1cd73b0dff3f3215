//! FIEL loading: generated credentials always, the corpus' SAT test credentials when present.

use crate::common::{corpus, make_fiel, password, NOW};
use cuadra_sat::fiel::{Fiel, FielError};

#[test]
fn loads_a_generated_fiel() {
    let t = make_fiel("AAA010101AAA", false, 3650);
    let f = t.load(NOW());
    assert_eq!(f.rfc(), "AAA010101AAA");
    assert_eq!(f.serial_number(), "30001000000500009999");
    assert!(f.days_to_expiry(NOW()) > 2000);
    let dbg = format!("{f:?}");
    assert!(
        dbg.contains("AAA010101AAA") && dbg.contains("redacted"),
        "{dbg}"
    );
}

#[test]
fn wrong_password_is_one_clear_line() {
    let t = make_fiel("AAA010101AAA", false, 3650);
    let err = Fiel::load(&t.cer, &t.key, &password("not-it"), NOW()).expect_err("must fail");
    assert!(matches!(err, FielError::WrongPassword { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("password is wrong"), "{msg}");
    assert!(msg.contains("fiel.key"), "{msg}");
    assert!(!msg.contains('\n') && !msg.contains("not-it"), "{msg}");
}

#[test]
fn refuses_a_csd() {
    let t = make_fiel("AAA010101AAA", true, 3650);
    let err = Fiel::load(&t.cer, &t.key, &password(t.password), NOW()).expect_err("CSD");
    assert!(matches!(err, FielError::NotFiel { .. }), "{err:?}");
    assert!(err.to_string().contains("CSD"));
}

#[test]
fn refuses_an_expired_fiel() {
    let t = make_fiel("AAA010101AAA", false, 30);
    let later = NOW() + chrono::Duration::days(400);
    let err = Fiel::load(&t.cer, &t.key, &password(t.password), later).expect_err("expired");
    assert!(matches!(err, FielError::Expired { .. }), "{err:?}");
    assert!(err.to_string().contains("expired on"), "{err}");
}

#[test]
fn refuses_a_key_of_another_certificate() {
    let a = make_fiel("AAA010101AAA", false, 3650);
    let b = make_fiel("AAA010101AAA", false, 3650);
    let err = Fiel::load(&a.cer, &b.key, &password(b.password), NOW()).expect_err("mismatch");
    assert!(matches!(err, FielError::Mismatch { .. }), "{err:?}");
}

#[test]
fn names_an_unreadable_file() {
    let t = make_fiel("AAA010101AAA", false, 3650);
    let missing = t.dir.path().join("nope.cer");
    let err = Fiel::load(&missing, &t.key, &password(t.password), NOW()).expect_err("missing");
    assert!(err.to_string().contains("nope.cer"), "{err}");
    let err = Fiel::load(&t.key, &t.key, &password(t.password), NOW()).expect_err("not a cert");
    assert!(matches!(err, FielError::BadCertificate { .. }), "{err:?}");
    let err = Fiel::load(&t.cer, &t.cer, &password(t.password), NOW()).expect_err("not a key");
    assert!(matches!(err, FielError::BadKey { .. }), "{err:?}");
}

#[test]
fn corpus_credentials() {
    let Some(c) = corpus() else { return };
    let pw = password("12345678a");
    let err = Fiel::load(
        &c.join("csd/EKU9003173C9.cer"),
        &c.join("csd/EKU9003173C9.key"),
        &pw,
        NOW(),
    )
    .expect_err("CSD");
    assert!(matches!(err, FielError::NotFiel { .. }), "{err:?}");
    let old = c.join("credentials/FIEL_AAA010101AAA");
    let err = Fiel::load(
        &old.join("certificate.cer"),
        &old.join("private_key.key"),
        &pw,
        NOW(),
    )
    .expect_err("expired");
    assert!(matches!(err, FielError::Expired { .. }), "{err:?}");
    let err = Fiel::load(
        &c.join("fiel/EKU9003173C9.cer"),
        &c.join("fiel/EKU9003173C9.key"),
        &password("wrong"),
        NOW(),
    )
    .expect_err("password");
    assert!(matches!(err, FielError::WrongPassword { .. }), "{err:?}");
    let err = Fiel::load(
        &c.join("fiel/EKU9003173C9.cer"),
        &c.join("csd/EKU9003173C9.key"),
        &pw,
        NOW(),
    )
    .expect_err("mismatch");
    assert!(matches!(err, FielError::Mismatch { .. }), "{err:?}");
}
