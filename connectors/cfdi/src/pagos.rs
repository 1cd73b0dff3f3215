//! Payment complements (Pagos 1.0 and 2.0): `Pago` and `DoctoRelacionado` attributes. The two versions share
//! names except `TipoCambioDR` (1.0) vs `EquivalenciaDR` (2.0), both read into `equivalencia`.

use crate::error::{ErrorKind, ParseError};
use crate::model::{DoctoRelacionado, Pago};
use crate::values::{
    attr_text, parse_amount, parse_currency, parse_fecha, parse_rate, parse_u32, Attr,
};

fn missing(input: &[u8], pos: u64, element: &str, field: &str) -> ParseError {
    ParseError::at(
        input,
        pos,
        ErrorKind::Invalid,
        format!("{element} has no {field} attribute"),
    )
    .with_field(format!("{element}@{field}"))
}

pub(crate) fn pago<'a>(
    input: &'a [u8],
    pos: u64,
    attrs: &[Attr<'a>],
) -> Result<Pago<'a>, ParseError> {
    let mut fecha = None;
    let mut forma = None;
    let mut moneda = None;
    let mut monto = None;
    let mut p = Pago {
        fecha: chrono::NaiveDateTime::default(),
        forma: Default::default(),
        moneda: cuadra_sdk::Currency::MXN,
        tipo_cambio: None,
        monto: Default::default(),
        num_operacion: None,
        rfc_emisor_cta_ord: None,
        cta_ordenante: None,
        rfc_emisor_cta_ben: None,
        cta_beneficiario: None,
        doctos: Vec::new(),
    };
    for a in attrs {
        match a.key {
            b"FechaPago" => fecha = Some(parse_fecha(input, a, "Pago@FechaPago")?),
            b"FormaDePagoP" => forma = Some(attr_text(input, a, "Pago@FormaDePagoP")?),
            b"MonedaP" => moneda = Some(parse_currency(input, a, "Pago@MonedaP")?),
            b"TipoCambioP" => p.tipo_cambio = Some(parse_rate(input, a, "Pago@TipoCambioP")?),
            b"Monto" => monto = Some(parse_amount(input, a, "Pago@Monto")?),
            b"NumOperacion" => p.num_operacion = Some(attr_text(input, a, "Pago@NumOperacion")?),
            b"RfcEmisorCtaOrd" => {
                p.rfc_emisor_cta_ord = Some(attr_text(input, a, "Pago@RfcEmisorCtaOrd")?)
            }
            b"CtaOrdenante" => p.cta_ordenante = Some(attr_text(input, a, "Pago@CtaOrdenante")?),
            b"RfcEmisorCtaBen" => {
                p.rfc_emisor_cta_ben = Some(attr_text(input, a, "Pago@RfcEmisorCtaBen")?)
            }
            b"CtaBeneficiario" => {
                p.cta_beneficiario = Some(attr_text(input, a, "Pago@CtaBeneficiario")?)
            }
            _ => {}
        }
    }
    p.fecha = fecha.ok_or_else(|| missing(input, pos, "Pago", "FechaPago"))?;
    p.forma = forma.ok_or_else(|| missing(input, pos, "Pago", "FormaDePagoP"))?;
    p.moneda = moneda.ok_or_else(|| missing(input, pos, "Pago", "MonedaP"))?;
    p.monto = monto.ok_or_else(|| missing(input, pos, "Pago", "Monto"))?;
    Ok(p)
}

pub(crate) fn docto<'a>(
    input: &'a [u8],
    pos: u64,
    attrs: &[Attr<'a>],
) -> Result<DoctoRelacionado<'a>, ParseError> {
    let mut moneda = None;
    let mut d = DoctoRelacionado {
        offset: pos,
        id_documento: None,
        serie: None,
        folio: None,
        moneda: cuadra_sdk::Currency::MXN,
        equivalencia: None,
        metodo_pago: None,
        num_parcialidad: None,
        imp_saldo_ant: None,
        imp_pagado: None,
        imp_saldo_insoluto: None,
    };
    for a in attrs {
        match a.key {
            b"IdDocumento" => {
                d.id_documento = Some(attr_text(input, a, "DoctoRelacionado@IdDocumento")?)
            }
            b"Serie" => d.serie = Some(attr_text(input, a, "DoctoRelacionado@Serie")?),
            b"Folio" => d.folio = Some(attr_text(input, a, "DoctoRelacionado@Folio")?),
            b"MonedaDR" => moneda = Some(parse_currency(input, a, "DoctoRelacionado@MonedaDR")?),
            b"EquivalenciaDR" => {
                d.equivalencia = Some(parse_rate(input, a, "DoctoRelacionado@EquivalenciaDR")?)
            }
            b"TipoCambioDR" => {
                d.equivalencia = Some(parse_rate(input, a, "DoctoRelacionado@TipoCambioDR")?)
            }
            b"MetodoDePagoDR" => {
                d.metodo_pago = Some(attr_text(input, a, "DoctoRelacionado@MetodoDePagoDR")?)
            }
            b"NumParcialidad" => {
                d.num_parcialidad = Some(parse_u32(input, a, "DoctoRelacionado@NumParcialidad")?)
            }
            b"ImpSaldoAnt" => {
                d.imp_saldo_ant = Some(parse_amount(input, a, "DoctoRelacionado@ImpSaldoAnt")?)
            }
            b"ImpPagado" => {
                d.imp_pagado = Some(parse_amount(input, a, "DoctoRelacionado@ImpPagado")?)
            }
            b"ImpSaldoInsoluto" => {
                d.imp_saldo_insoluto =
                    Some(parse_amount(input, a, "DoctoRelacionado@ImpSaldoInsoluto")?)
            }
            _ => {}
        }
    }
    d.moneda = moneda.ok_or_else(|| missing(input, pos, "DoctoRelacionado", "MonedaDR"))?;
    Ok(d)
}
