//! Response parsing: hand-written envelopes always, every corpus response fixture when present.

use crate::common::corpus;
use cuadra_sat::response::{self, ResponseError};

#[test]
fn parses_hand_written_responses() {
    let q = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><SolicitaDescargaEmitidosResponse xmlns="http://DescargaMasivaTerceros.sat.gob.mx"><SolicitaDescargaEmitidosResult CodEstatus="5005" Mensaje="Ya se tiene una solicitud registrada"/></SolicitaDescargaEmitidosResponse></s:Body></s:Envelope>"#;
    let r = response::parse_query(q).expect("query");
    assert_eq!((r.code, r.request_id), (5005, None));
    let d = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><h:respuesta CodEstatus="5000" Mensaje="ok" xmlns:h="http://DescargaMasivaTerceros.sat.gob.mx"/></s:Header><s:Body><RespuestaDescargaMasivaTercerosSalida xmlns="http://DescargaMasivaTerceros.sat.gob.mx"><Paquete>UEsD
BBQ=</Paquete></RespuestaDescargaMasivaTercerosSalida></s:Body></s:Envelope>"#;
    let r = response::parse_download(d).expect("download");
    assert_eq!(r.package, b"PK\x03\x04\x14".to_vec());
    let bad = br#"<s:Envelope xmlns:s="x"><s:Body><VerificaSolicitudDescargaResponse><VerificaSolicitudDescargaResult CodEstatus="abc"/></VerificaSolicitudDescargaResponse></s:Body></s:Envelope>"#;
    let e = response::parse_verify(bad).expect_err("bad code");
    assert!(e.to_string().contains("CodEstatus"), "{e}");
}

#[test]
fn parses_every_corpus_response() {
    let Some(c) = corpus() else { return };
    let read = |p: &str| std::fs::read(c.join(p)).expect("fixture");

    let t = response::parse_authenticate(&read("soap/authenticate/response-with-token.xml"))
        .expect("token");
    assert!(t
        .value
        .ends_with("%26wrap_subject%3d3330303031303030303030333030303233363835"));
    assert_eq!(t.created.to_rfc3339(), "2019-08-01T03:38:20.044+00:00");
    assert_eq!((t.expires - t.created).num_seconds(), 300);
    assert_eq!(t.jwt_exp.map(|e| e.timestamp()), Some(1564631300));
    assert!(!format!("{t:?}").contains("eyJ"));

    match response::parse_authenticate(&read("soap/authenticate/response-with-error.xml")) {
        Err(ResponseError::Fault(f)) => {
            assert_eq!(f.code, "a:InvalidSecurity");
            assert!(f.message.starts_with("An error occurred"));
        }
        other => panic!("expected a fault, got {other:?}"),
    }

    for f in [
        "soap/query/response-issued.xml",
        "soap/query/response-received.xml",
        "soap/query/response-item.xml",
    ] {
        let r = response::parse_query(&read(f)).expect(f);
        assert_eq!(r.code, 5000, "{f}");
        assert_eq!(
            r.request_id.as_deref(),
            Some("d49af78d-1c80-4221-a48d-345ace91626b"),
            "{f}"
        );
    }
    let legacy = response::parse_query(&read("soap/legacy-pre-1.5/query-response-with-id.xml"))
        .expect("legacy");
    assert_eq!(legacy.code, 5000);
    assert!(legacy.request_id.is_some());
    for (f, code) in [
        (
            "synthetic/soap/query-response-received-301-cancelados.xml",
            301,
        ),
        (
            "synthetic/soap/query-response-issued-5002-agotadas.xml",
            5002,
        ),
        (
            "synthetic/soap/query-response-issued-5005-duplicada.xml",
            5005,
        ),
        (
            "synthetic/soap/query-response-folio-305-certificado-invalido.xml",
            305,
        ),
    ] {
        let r = response::parse_query(&read(f)).expect(f);
        assert_eq!((r.code, r.request_id.is_none()), (code, true), "{f}");
    }

    let v = response::parse_verify(&read("soap/verify/response-2-packages.xml")).expect("verify");
    assert_eq!(
        (v.code, v.state, v.state_code, v.cfdi_count),
        (5000, 3, 5000, 12345)
    );
    assert_eq!(
        v.packages,
        vec![
            "4e80345d-917f-40bb-a98f-4a73939343c5_01".to_string(),
            "4e80345d-917f-40bb-a98f-4a73939343c5_02".to_string()
        ]
    );
    let v = response::parse_verify(&read("soap/verify/response-0-packages.xml")).expect("verify");
    assert_eq!((v.state, v.state_code, v.packages.len()), (5, 5004, 0));
    for (f, state) in [
        ("synthetic/soap/verify-response-1-aceptada.xml", 1),
        ("synthetic/soap/verify-response-2-en-proceso.xml", 2),
    ] {
        assert_eq!(response::parse_verify(&read(f)).expect(f).state, state);
    }

    let d = response::parse_download(&read("soap/download/response-with-package.xml"))
        .expect("download");
    assert_eq!(d.code, 5000);
    assert!(d.package.starts_with(b"PK"), "a zip");
    let d = response::parse_download(&read(
        "synthetic/soap/download-response-5008-maximo-descargas.xml",
    ))
    .expect("5008");
    assert_eq!((d.code, d.package.len()), (5008, 0));
    let d = response::parse_download(&read("soap/download/response-with-package-template.xml"))
        .expect("template");
    assert_eq!(d.package.len(), 0);
}
