//! Window planning and the fuzz stand-in for the response parsers.

use crate::common::{at, password};
use cuadra_sat::checkpoint::{Origin, SatState};
use cuadra_sat::envelope::{Direction, RequestType};
use cuadra_sat::plan;
use cuadra_sat::SatSettings;
use proptest::prelude::*;

fn settings() -> SatSettings {
    SatSettings::new("a.cer".into(), "a.key".into(), password("x"))
}

#[test]
fn daily_window_is_planned_once_a_day() {
    let mut st = SatState::default();
    let s = settings();
    let now = at(2025, 6, 10, 18, 0, 0);
    assert_eq!(plan::plan(&mut st, &s, now), 2);
    assert_eq!(
        plan::plan(&mut st, &s, now + chrono::Duration::hours(3)),
        0,
        "same day: nothing new"
    );
    let r = &st.requests[0];
    assert_eq!(r.key, "daily/emitidos/metadata/2025-06-03/2025-06-09");
    assert_eq!(
        (r.direction, r.request_type),
        (Direction::Emitidos, RequestType::Metadata)
    );
    let p = plan::params(r);
    assert_eq!(p.start.to_string(), "2025-06-03 00:00:00");
    assert_eq!(p.end.to_string(), "2025-06-09 23:59:59");
    assert_eq!(plan::plan(&mut st, &s, now + chrono::Duration::days(1)), 2);
}

#[test]
fn local_midnight_is_mexico_city() {
    // 03:00 UTC on the 11th is still the 10th in Mexico City.
    assert_eq!(
        plan::today(at(2025, 6, 11, 3, 0, 0)).to_string(),
        "2025-06-10"
    );
}

#[test]
fn backfill_is_split_into_months_and_clamped_to_six_years() {
    let mut st = SatState::default();
    let mut s = settings();
    s.recibidos = true;
    s.backfill_from = Some(chrono::NaiveDate::from_ymd_opt(2025, 3, 15).expect("date"));
    plan::plan(&mut st, &s, at(2025, 6, 10, 18, 0, 0));
    let backfill: Vec<_> = st
        .requests
        .iter()
        .filter(|r| r.origin == Origin::Backfill)
        .collect();
    // 2025-03-15..03-31, April, May, 06-01..06-02, four kinds each.
    assert_eq!(backfill.len(), 16);
    assert!(backfill
        .iter()
        .any(|r| r.key == "backfill/recibidos/cfdi/2025-04-01/2025-04-30"));
    let received_cfdi = backfill
        .iter()
        .find(|r| r.direction == Direction::Recibidos && r.request_type == RequestType::Cfdi)
        .expect("row");
    assert_eq!(
        plan::params(received_cfdi).document_status.as_deref(),
        Some("Vigente")
    );

    let mut st = SatState::default();
    s.backfill_from = Some(chrono::NaiveDate::from_ymd_opt(2010, 1, 1).expect("date"));
    plan::plan(&mut st, &s, at(2025, 6, 10, 18, 0, 0));
    let first = st
        .requests
        .iter()
        .filter(|r| r.origin == Origin::Backfill)
        .map(|r| r.from)
        .min()
        .expect("rows");
    assert_eq!(first.to_string(), "2019-06-10");
}

proptest! {
    #[test]
    fn response_parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        cuadra_sat::response::fuzz_responses(&data);
    }

    #[test]
    fn mutated_responses_never_panic(pos in 0usize..2000, byte in any::<u8>(), cut in 0usize..2000) {
        let base = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><h:respuesta CodEstatus="5000" Mensaje="ok" xmlns:h="x"/><o:Security><u:Timestamp><u:Created>2019-08-01T03:38:20.044Z</u:Created><u:Expires>2019-08-01T03:43:20.044Z</u:Expires></u:Timestamp></o:Security></s:Header><s:Body><VerificaSolicitudDescargaResponse><VerificaSolicitudDescargaResult CodEstatus="5000" EstadoSolicitud="3" CodigoEstadoSolicitud="5000" NumeroCFDIs="1"><IdsPaquetes>A_01</IdsPaquetes></VerificaSolicitudDescargaResult></VerificaSolicitudDescargaResponse><AutenticaResult>eyJ.eyJleHAiOjF9.x</AutenticaResult><Paquete>UEsDBA==</Paquete></s:Body></s:Envelope>"#;
        let mut v = base.to_vec();
        if let Some(b) = v.get_mut(pos % base.len()) { *b = byte; }
        v.truncate(cut.min(v.len()));
        cuadra_sat::response::fuzz_responses(&v);
    }
}
