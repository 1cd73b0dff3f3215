//! The parsed CFDI: only what receivables need, borrowing text from the input where it can (`Cow`), amounts as
//! exact `Decimal`s as written in the document.

use chrono::NaiveDateTime;
use cuadra_sdk::{CfdiUuid, Currency};
use rust_decimal::Decimal;
use std::borrow::Cow;

/// CFDI versions this crate parses (3.2 and retenciones are recognised and refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CfdiVersion {
    V33,
    V40,
}

impl CfdiVersion {
    pub fn as_str(&self) -> &'static str {
        match self {
            CfdiVersion::V33 => "3.3",
            CfdiVersion::V40 => "4.0",
        }
    }
}

/// `TipoDeComprobante`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tipo {
    /// Ingreso (invoice).
    I,
    /// Egreso (credit note, return, anticipo application).
    E,
    /// Traslado (goods transport).
    T,
    /// Nómina (payroll).
    N,
    /// Pago (payment complement, REP).
    P,
}

impl Tipo {
    pub fn parse(s: &str) -> Option<Tipo> {
        match s {
            "I" => Some(Tipo::I),
            "E" => Some(Tipo::E),
            "T" => Some(Tipo::T),
            "N" => Some(Tipo::N),
            "P" => Some(Tipo::P),
            _ => None,
        }
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            Tipo::I => "I",
            Tipo::E => "E",
            Tipo::T => "T",
            Tipo::N => "N",
            Tipo::P => "P",
        }
    }
}

/// Emisor or Receptor. The RFC is kept as written (it may be empty in anonymised files); normalization parses it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Party<'a> {
    pub rfc: Cow<'a, str>,
    pub nombre: Option<Cow<'a, str>>,
}

/// One `CfdiRelacionados` group: 3.3 has at most one, 4.0 any number, each with its own `TipoRelacion`.
#[derive(Debug, Clone, PartialEq)]
pub struct Relation<'a> {
    /// c_TipoRelacion (`01` nota de crédito, `04` sustitución, `07` anticipo, ...).
    pub tipo: Cow<'a, str>,
    /// `CfdiRelacionado@UUID`, lower-cased, in document order.
    pub uuids: Vec<CfdiUuid>,
}

/// Which payment complement the document carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PagosVersion {
    /// `http://www.sat.gob.mx/Pagos` (with CFDI 3.3).
    V10,
    /// `http://www.sat.gob.mx/Pagos20` (with CFDI 4.0).
    V20,
}

/// One `Pago` of a payment complement.
#[derive(Debug, Clone, PartialEq)]
pub struct Pago<'a> {
    /// `FechaPago`: civil time of receipt (12:00:00 when the hour is unknown).
    pub fecha: NaiveDateTime,
    /// `FormaDePagoP` (c_FormaPago).
    pub forma: Cow<'a, str>,
    /// `MonedaP`.
    pub moneda: Currency,
    /// `TipoCambioP`: MXN per unit of `MonedaP`.
    pub tipo_cambio: Option<Decimal>,
    /// `Monto` in `MonedaP`.
    pub monto: Decimal,
    pub num_operacion: Option<Cow<'a, str>>,
    pub rfc_emisor_cta_ord: Option<Cow<'a, str>>,
    pub cta_ordenante: Option<Cow<'a, str>>,
    pub rfc_emisor_cta_ben: Option<Cow<'a, str>>,
    pub cta_beneficiario: Option<Cow<'a, str>>,
    pub doctos: Vec<DoctoRelacionado<'a>>,
}

/// One `DoctoRelacionado`: what a Pago settles. Amounts are in `MonedaDR`.
#[derive(Debug, Clone, PartialEq)]
pub struct DoctoRelacionado<'a> {
    /// Byte offset of the element in the document (for warnings naming its line).
    pub offset: u64,
    /// `IdDocumento` as written (a UUID, or `NNN-NN-NNNNNNNNN` for foreign documents). Required by the schema but
    /// absent in some anonymised files, hence optional.
    pub id_documento: Option<Cow<'a, str>>,
    pub serie: Option<Cow<'a, str>>,
    pub folio: Option<Cow<'a, str>>,
    pub moneda: Currency,
    /// `EquivalenciaDR` (2.0) or `TipoCambioDR` (1.0): units of `MonedaDR` per unit of `MonedaP`.
    pub equivalencia: Option<Decimal>,
    /// `MetodoDePagoDR` (1.0 only).
    pub metodo_pago: Option<Cow<'a, str>>,
    pub num_parcialidad: Option<u32>,
    pub imp_saldo_ant: Option<Decimal>,
    /// Optional in 1.0 with a single document and no TipoCambioDR (then it equals `Monto`).
    pub imp_pagado: Option<Decimal>,
    pub imp_saldo_insoluto: Option<Decimal>,
}

/// A parsed `cfdi:Comprobante` (3.3 or 4.0).
#[derive(Debug, Clone, PartialEq)]
pub struct Cfdi<'a> {
    pub version: CfdiVersion,
    pub serie: Option<Cow<'a, str>>,
    pub folio: Option<Cow<'a, str>>,
    /// `Fecha`: civil time where it was issued, no zone.
    pub fecha: NaiveDateTime,
    pub tipo: Tipo,
    pub moneda: Currency,
    pub tipo_cambio: Option<Decimal>,
    pub subtotal: Decimal,
    pub descuento: Option<Decimal>,
    pub total: Decimal,
    pub metodo_pago: Option<Cow<'a, str>>,
    pub forma_pago: Option<Cow<'a, str>>,
    pub lugar_expedicion: Option<Cow<'a, str>>,
    pub emisor: Party<'a>,
    pub receptor: Party<'a>,
    /// `TimbreFiscalDigital@UUID`, lower-cased; `None` for a document not stamped by a PAC.
    pub uuid: Option<CfdiUuid>,
    pub fecha_timbrado: Option<NaiveDateTime>,
    pub relations: Vec<Relation<'a>>,
    /// The payment complement, when there is one.
    pub pagos_version: Option<PagosVersion>,
    pub pagos: Vec<Pago<'a>>,
}
