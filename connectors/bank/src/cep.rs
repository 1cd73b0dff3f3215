//! Banxico CEP (Comprobante Electrónico de Pago) XML, `SPEI_Tercero` (bank.md §3): one SPEI transfer, turned
//! into one payment of kind `Spei`.
//!
//! `FechaOperacion` is the booking date (the SPEI operation date), the abono date in `cadenaCDA` position 4
//! (`DDMMYYYY`) the value date; `MontoPago` the amount in MXN; the beneficiary's `Cuenta` the own account (the
//! company's, often a per-customer virtual CLABE); the ordenante's `Nombre`, `Cuenta` and `RFC` (an RFC, or a
//! CURP for persons) the payer; `Concepto` the concepto; `claveRastreo` the clave de rastreo. `NA` means absent.
//! The identity is `rastreo:<FechaOperacion>:<BANCOEMISOR>:<claveRastreo>` (bank name upper-case, letters and digits only) (a clave de rastreo is unique per
//! sending bank and operation date, bank.md §1.3). The `sello` is not verified here.

use crate::model::{err_at, Txn, UniqueRef};
use crate::text::{clean, clean_ref, iso_date, parse_amount, DecimalSep};
use chrono::NaiveDate;
use cuadra_sdk::{Currency, InputError, Money};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use std::collections::HashMap;

fn attrs(e: &BytesStart<'_>) -> HashMap<String, String> {
    e.attributes()
        .flatten()
        .map(|a| {
            let k = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
            let v = a
                .unescape_value()
                .map(|v| v.into_owned())
                .unwrap_or_else(|_| String::from_utf8_lossy(&a.value).into_owned());
            (k, v)
        })
        .collect()
}

/// Parses one CEP document.
pub fn parse(bytes: &[u8]) -> Result<Vec<Txn>, InputError> {
    let mut reader = Reader::from_reader(bytes);
    let mut root: Option<HashMap<String, String>> = None;
    let mut benef = HashMap::new();
    let mut orden = HashMap::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => match e.local_name().as_ref() {
                b"SPEI_Tercero" => root = Some(attrs(&e)),
                b"Beneficiario" => benef = attrs(&e),
                b"Ordenante" => orden = attrs(&e),
                _ => {}
            },
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(err_at(0, None, format!("not well-formed XML: {e}"))),
        }
    }
    let root = root.ok_or_else(|| {
        err_at(
            1,
            Some("SPEI_Tercero"),
            "expected a CEP root element <SPEI_Tercero>",
        )
    })?;
    let get = |m: &HashMap<String, String>, k: &str| m.get(k).and_then(|v| clean_ref(v));
    let fecha = root.get("FechaOperacion").map(String::as_str).unwrap_or("");
    let booked = iso_date(fecha).ok_or_else(|| {
        err_at(
            1,
            Some("SPEI_Tercero/@FechaOperacion"),
            format!("expected a date YYYY-MM-DD, found {fecha:?}"),
        )
    })?;
    let monto = benef.get("MontoPago").map(String::as_str).unwrap_or("");
    let amount = parse_amount(monto, DecimalSep::Point)
        .map_err(|m| err_at(1, Some("Beneficiario/@MontoPago"), m))?;
    let clave = root
        .get("claveRastreo")
        .and_then(|c| clean(c))
        .ok_or_else(|| {
            err_at(
                1,
                Some("SPEI_Tercero/@claveRastreo"),
                "expected a clave de rastreo",
            )
        })?;
    let emisor = get(&orden, "BancoEmisor")
        .map(|e| crate::text::norm_key(&e))
        .unwrap_or_default();
    let mut t = Txn::new(booked, Money::new(amount, Currency::MXN));
    t.value_date = root.get("cadenaCDA").and_then(|c| abono_date(c));
    t.file_account = get(&benef, "Cuenta");
    t.unique_ref = Some(UniqueRef::Rastreo(format!("{emisor}:{clave}")));
    t.clave_rastreo = Some(clave);
    t.payer_name = get(&orden, "Nombre");
    t.payer_account = get(&orden, "Cuenta");
    t.payer_rfc = get(&orden, "RFC");
    t.concepto = get(&benef, "Concepto");
    t.status = Some("liquidado".into());
    t.span = 0..bytes.len();
    t.line = 1;
    Ok(vec![t])
}

/// `cadenaCDA` position 4, `DDMMYYYY`.
fn abono_date(cadena: &str) -> Option<NaiveDate> {
    let f = cadena.split('|').nth(4)?;
    let d: u32 = f.get(0..2)?.parse().ok()?;
    let m: u32 = f.get(2..4)?.parse().ok()?;
    let y: i32 = f.get(4..8)?.parse().ok()?;
    NaiveDate::from_ymd_opt(y, m, d)
}
