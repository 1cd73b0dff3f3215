//! Golden tests: rebuild the corpus' signed requests byte-for-byte with the SAT test FIEL (skipped without the
//! corpus) and check generated envelopes sign correctly with a generated FIEL (always).

use crate::common::{at, corpus, password, NOW};
use cuadra_sat::envelope::{self, Direction, Query, QueryParams, RequestType};
use cuadra_sat::fiel::Fiel;
use std::path::Path;

/// The reference client's `nospaces`: drop leading whitespace of each line and every line break, keeping one LF
/// after the XML declaration.
fn nospaces(s: &str) -> String {
    let mut out = String::new();
    for line in s.lines() {
        let t = line.trim_start();
        out.push_str(t.trim_end());
        if t.starts_with("<?xml") {
            out.push('\n');
        }
    }
    out
}

fn corpus_fiel(c: &Path) -> Fiel {
    Fiel::load(
        &c.join("fiel/EKU9003173C9.cer"),
        &c.join("fiel/EKU9003173C9.key"),
        &password("12345678a"),
        NOW(),
    )
    .expect("corpus FIEL")
}

fn golden(c: &Path, file: &str, built: &str) {
    let want = nospaces(&std::fs::read_to_string(c.join(file)).expect("fixture"));
    assert_eq!(built, want, "{file} differs");
}

fn range(direction: Direction, rt: RequestType, status: &str) -> QueryParams {
    QueryParams {
        direction,
        start: chrono::NaiveDate::from_ymd_opt(2019, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .expect("date"),
        end: chrono::NaiveDate::from_ymd_opt(2019, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 4, 0))
            .expect("date"),
        request_type: rt,
        document_status: Some(status.into()),
        document_type: None,
        complemento: None,
        rfc_a_cuenta_terceros: None,
        counterparts: vec![],
    }
}

#[test]
fn authenticate_request_matches_fixture() {
    let Some(c) = corpus() else { return };
    let fiel = corpus_fiel(&c);
    let built = envelope::authenticate(
        &fiel,
        at(2019, 8, 1, 3, 38, 19),
        at(2019, 8, 1, 3, 43, 19),
        "uuid-cf6c80fb-00ae-44c0-af56-54ec65decbaa-1",
    )
    .expect("sign");
    golden(&c, "soap/authenticate/request.xml", &built);
}

#[test]
fn query_requests_match_fixtures() {
    let Some(c) = corpus() else { return };
    let fiel = corpus_fiel(&c);
    let issued = envelope::query(
        &fiel,
        &Query::Range(range(Direction::Emitidos, RequestType::Metadata, "Todos")),
    )
    .expect("sign");
    golden(&c, "soap/query/request-issued.xml", &issued);

    let mut p = range(Direction::Recibidos, RequestType::Cfdi, "Vigente");
    p.complemento = Some("nomina12".into());
    p.document_type = Some("N".into());
    p.rfc_a_cuenta_terceros = Some("XXX01010199A".into());
    p.counterparts = vec!["AAA010101AAA".into()];
    let received = envelope::query(&fiel, &Query::Range(p)).expect("sign");
    golden(&c, "soap/query/request-received.xml", &received);

    let folio = envelope::query(
        &fiel,
        &Query::Folio("96623061-61fe-49de-b298-c7156476aa8b".into()),
    )
    .expect("sign");
    golden(&c, "soap/query/request-item.xml", &folio);
}

#[test]
fn verify_and_download_requests_match_fixtures() {
    let Some(c) = corpus() else { return };
    let fiel = corpus_fiel(&c);
    let v = envelope::verify(&fiel, "3f30a4e1-af73-4085-8991-e4d97eef16bd").expect("sign");
    golden(&c, "soap/verify/request.xml", &v);
    let d = envelope::download(&fiel, "4e80345d-917f-40bb-a98f-4a73939343c5_01").expect("sign");
    golden(&c, "soap/download/request.xml", &d);
}

#[test]
fn fiel_facts_match_sat_numbers() {
    let Some(c) = corpus() else { return };
    let fiel = corpus_fiel(&c);
    assert_eq!(fiel.rfc(), "EKU9003173C9");
    assert_eq!(fiel.serial_number(), "30001000000500003415");
    assert_eq!(
        fiel.serial_decimal(),
        "292233162870206001759766198462772978647764840757"
    );
    assert_eq!(fiel.not_after(), at(2027, 5, 17, 4, 37, 14));
    assert_eq!(fiel.days_to_expiry(at(2027, 5, 7, 4, 37, 14)), 10);
}

#[test]
fn fake_server_accepts_the_corpus_requests_and_rejects_tampering() {
    let Some(c) = corpus() else { return };
    let cert = std::fs::read(c.join("fiel/EKU9003173C9.cer")).expect("cert");
    for f in [
        "soap/query/request-issued.xml",
        "soap/query/request-received.xml",
        "soap/query/request-item.xml",
        "soap/verify/request.xml",
        "soap/download/request.xml",
    ] {
        let body = nospaces(&std::fs::read_to_string(c.join(f)).expect("fixture"));
        cuadra_testkit::sat::verify_signed_request(body.as_bytes(), &cert, NOW())
            .unwrap_or_else(|e| panic!("{f}: {e}"));
        let tampered = body.replace(
            "RfcSolicitante=\"EKU9003173C9\"",
            "RfcSolicitante=\"EKU9003173C8\"",
        );
        assert!(
            cuadra_testkit::sat::verify_signed_request(tampered.as_bytes(), &cert, NOW()).is_err(),
            "{f}"
        );
    }
    let auth = nospaces(
        &std::fs::read_to_string(c.join("soap/authenticate/request.xml")).expect("fixture"),
    );
    cuadra_testkit::sat::verify_signed_request(auth.as_bytes(), &cert, at(2019, 8, 1, 3, 39, 0))
        .expect("auth verifies");
    assert!(
        cuadra_testkit::sat::verify_signed_request(auth.as_bytes(), &cert, NOW()).is_err(),
        "stale timestamp"
    );
}

#[test]
fn generated_envelopes_verify_with_the_fake() {
    let t = crate::common::make_fiel("AAA010101AAA", false, 3650);
    let fiel = t.load(NOW());
    let mut p = range(Direction::Emitidos, RequestType::Cfdi, "Todos");
    p.counterparts = vec!["XAXX010101000".into(), "H&E951128469".into()];
    let q = envelope::query(&fiel, &Query::Range(p)).expect("sign");
    assert!(q.contains("<des:RfcReceptor>H&amp;E951128469</des:RfcReceptor>"));
    cuadra_testkit::sat::verify_signed_request(q.as_bytes(), fiel.certificate_der(), NOW())
        .expect("query");
    let a = envelope::authenticate(
        &fiel,
        NOW(),
        NOW() + chrono::Duration::minutes(5),
        "uuid-x-1",
    )
    .expect("sign");
    cuadra_testkit::sat::verify_signed_request(a.as_bytes(), fiel.certificate_der(), NOW())
        .expect("auth");
    let other = crate::common::make_fiel("AAA010101AAA", false, 3650).load(NOW());
    assert!(cuadra_testkit::sat::verify_signed_request(
        q.as_bytes(),
        other.certificate_der(),
        NOW()
    )
    .is_err());
}
