//! Builds the signed SOAP envelopes exactly as the reference client does (sat.md §3): the XML is written
//! directly in its compact canonical form, so the exclusive-C14N digest input of the signed element and the
//! canonical `SignedInfo` are plain strings — no general canonicalizer. Attribute values are escaped, attributes
//! sorted by name, empty elements written as start+end tags where canonical form requires it.

use crate::fiel::{Fiel, FielError};
use crate::xml::escape;
use base64::Engine;
use chrono::{DateTime, NaiveDateTime, Utc};
use sha1::{Digest, Sha1};
use std::collections::BTreeMap;

pub const NS_SOAP: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const NS_DES: &str = "http://DescargaMasivaTerceros.sat.gob.mx";
pub const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const NS_WSU: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
pub const NS_WSSE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
const X509V3: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3";
const BASE64BIN: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
const SHA1_URI: &str = "http://www.w3.org/2000/09/xmldsig#sha1";

/// `TipoSolicitud`: the XML documents or the metadata listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestType {
    Cfdi,
    Metadata,
}

impl RequestType {
    pub fn as_attr(self) -> &'static str {
        match self {
            RequestType::Cfdi => "CFDI",
            RequestType::Metadata => "Metadata",
        }
    }
}

/// Issued (receivables) or received documents.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Emitidos,
    Recibidos,
}

/// Parameters of a date-range query. Dates are SAT local time without zone (`YYYY-MM-DDTHH:MM:SS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryParams {
    pub direction: Direction,
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
    pub request_type: RequestType,
    /// `Todos`, `Vigente`, `Cancelado`; received CFDI must be `Vigente` (sat.md §5.3).
    pub document_status: Option<String>,
    /// `I`, `E`, `T`, `N`, `P`.
    pub document_type: Option<String>,
    pub complemento: Option<String>,
    pub rfc_a_cuenta_terceros: Option<String>,
    /// Emitidos: up to 5 receivers (`RfcReceptores`); Recibidos: at most one issuer (`RfcEmisor`).
    pub counterparts: Vec<String>,
}

/// One query operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    Range(QueryParams),
    /// `SolicitaDescargaFolio` by CFDI UUID.
    Folio(String),
}

impl Query {
    /// Operation element name, which is also the last segment of the SOAPAction.
    pub fn operation(&self) -> &'static str {
        match self {
            Query::Range(p) if p.direction == Direction::Emitidos => "SolicitaDescargaEmitidos",
            Query::Range(_) => "SolicitaDescargaRecibidos",
            Query::Folio(_) => "SolicitaDescargaFolio",
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.000Z` as the reference client writes WS-Security timestamps.
pub fn format_timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S.000Z").to_string()
}

fn sha1_b64(data: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha1::digest(data.as_bytes()))
}

/// The `SignedInfo` element in canonical form (with its `xmlns`), which is what gets signed.
fn signed_info_c14n(uri: &str, digest: &str) -> String {
    format!(
        "<SignedInfo xmlns=\"{NS_DSIG}\">{}</SignedInfo>",
        signed_info_inner(uri, digest, true)
    )
}

fn signed_info_inner(uri: &str, digest: &str, expanded: bool) -> String {
    let empty = |name: &str, alg: &str| {
        if expanded {
            format!("<{name} Algorithm=\"{alg}\"></{name}>")
        } else {
            format!("<{name} Algorithm=\"{alg}\"/>")
        }
    };
    format!(
        "{}{}<Reference URI=\"{uri}\"><Transforms>{}</Transforms>{}<DigestValue>{digest}</DigestValue></Reference>",
        empty("CanonicalizationMethod", EXC_C14N),
        empty("SignatureMethod", RSA_SHA1),
        empty("Transform", EXC_C14N),
        empty("DigestMethod", SHA1_URI),
    )
}

/// The `Autentica` envelope: signs the `u:Timestamp` (created..expires) with the FIEL.
pub fn authenticate(
    fiel: &Fiel,
    created: DateTime<Utc>,
    expires: DateTime<Utc>,
    token_id: &str,
) -> Result<String, FielError> {
    let ts_inner = format!(
        "<u:Created>{}</u:Created><u:Expires>{}</u:Expires>",
        format_timestamp(created),
        format_timestamp(expires)
    );
    let digest = sha1_b64(&format!(
        "<u:Timestamp xmlns:u=\"{NS_WSU}\" u:Id=\"_0\">{ts_inner}</u:Timestamp>"
    ));
    let signature = fiel.sign_sha1_base64(signed_info_c14n("#_0", &digest).as_bytes())?;
    let token_id = escape(token_id);
    Ok(format!(
        "<?xml version=\"1.0\"?>\n<s:Envelope xmlns:s=\"{NS_SOAP}\" xmlns:u=\"{NS_WSU}\"><s:Header>\
<o:Security xmlns:o=\"{NS_WSSE}\" s:mustUnderstand=\"1\"><u:Timestamp u:Id=\"_0\">{ts_inner}</u:Timestamp>\
<o:BinarySecurityToken u:Id=\"{token_id}\" ValueType=\"{X509V3}\" EncodingType=\"{BASE64BIN}\">{cert}</o:BinarySecurityToken>\
<Signature xmlns=\"{NS_DSIG}\"><SignedInfo>{si}</SignedInfo><SignatureValue>{signature}</SignatureValue>\
<KeyInfo><o:SecurityTokenReference><o:Reference URI=\"#{token_id}\" ValueType=\"{X509V3}\"/></o:SecurityTokenReference></KeyInfo>\
</Signature></o:Security></s:Header><s:Body><Autentica xmlns=\"http://DescargaMasivaTerceros.gob.mx\"/></s:Body></s:Envelope>",
        cert = fiel.certificate_base64(),
        si = signed_info_inner("#_0", &digest, false),
    ))
}

/// Builds a body-signed envelope: `<des:{op}><des:{child} ATTRS>{inner}{Signature}</des:{child}></des:{op}>`.
fn body_signed(
    fiel: &Fiel,
    op: &str,
    child: &str,
    attrs: &BTreeMap<&str, String>,
    inner: &str,
    expanded: bool,
) -> Result<String, FielError> {
    let mut attr_text = String::new();
    for (k, v) in attrs {
        attr_text.push_str(&format!(" {k}=\"{}\"", escape(v)));
    }
    let digest = sha1_b64(&format!(
        "<des:{op} xmlns:des=\"{NS_DES}\"><des:{child}{attr_text}>{inner}</des:{child}></des:{op}>"
    ));
    let signature = fiel.sign_sha1_base64(signed_info_c14n("", &digest).as_bytes())?;
    let key_info = format!(
        "<KeyInfo><X509Data><X509IssuerSerial><X509IssuerName>{}</X509IssuerName>\
<X509SerialNumber>{}</X509SerialNumber></X509IssuerSerial><X509Certificate>{}</X509Certificate></X509Data></KeyInfo>",
        escape(fiel.issuer_name()),
        fiel.serial_decimal(),
        fiel.certificate_base64()
    );
    Ok(format!(
        "<?xml version=\"1.0\"?>\n<s:Envelope xmlns:s=\"{NS_SOAP}\" xmlns:des=\"{NS_DES}\" xmlns:xd=\"{NS_DSIG}\">\
<s:Header/><s:Body><des:{op}><des:{child}{attr_text}>{inner}<Signature xmlns=\"{NS_DSIG}\">\
<SignedInfo>{si}</SignedInfo><SignatureValue>{signature}</SignatureValue>{key_info}</Signature>\
</des:{child}></des:{op}></s:Body></s:Envelope>",
        si = signed_info_inner("", &digest, expanded),
    ))
}

fn sat_date(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// A query envelope (issued, received or by folio).
pub fn query(fiel: &Fiel, q: &Query) -> Result<String, FielError> {
    let rfc = fiel.rfc().to_uppercase();
    let mut attrs: BTreeMap<&str, String> = BTreeMap::new();
    let mut inner = String::new();
    match q {
        Query::Folio(uuid) => {
            attrs.insert("Folio", uuid.to_lowercase());
            attrs.insert("RfcSolicitante", rfc);
        }
        Query::Range(p) => {
            attrs.insert("FechaInicial", sat_date(p.start));
            attrs.insert("FechaFinal", sat_date(p.end));
            attrs.insert("TipoSolicitud", p.request_type.as_attr().to_string());
            let optional = [
                ("EstadoComprobante", &p.document_status),
                ("TipoComprobante", &p.document_type),
                ("Complemento", &p.complemento),
                ("RfcACuentaTerceros", &p.rfc_a_cuenta_terceros),
            ];
            for (k, v) in optional {
                if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                    attrs.insert(k, v.clone());
                }
            }
            match p.direction {
                Direction::Emitidos => {
                    attrs.insert("RfcEmisor", rfc.clone());
                    if !p.counterparts.is_empty() {
                        inner.push_str("<des:RfcReceptores>");
                        for r in &p.counterparts {
                            inner.push_str(&format!(
                                "<des:RfcReceptor>{}</des:RfcReceptor>",
                                escape(&r.to_uppercase())
                            ));
                        }
                        inner.push_str("</des:RfcReceptores>");
                    }
                }
                Direction::Recibidos => {
                    attrs.insert("RfcReceptor", rfc.clone());
                    if let Some(e) = p.counterparts.first() {
                        attrs.insert("RfcEmisor", e.to_uppercase());
                    }
                }
            }
            attrs.insert("RfcSolicitante", rfc);
        }
    }
    body_signed(fiel, q.operation(), "solicitud", &attrs, &inner, true)
}

/// A `VerificaSolicitudDescarga` envelope.
pub fn verify(fiel: &Fiel, request_id: &str) -> Result<String, FielError> {
    let mut attrs = BTreeMap::new();
    attrs.insert("IdSolicitud", request_id.to_string());
    attrs.insert("RfcSolicitante", fiel.rfc().to_string());
    body_signed(
        fiel,
        "VerificaSolicitudDescarga",
        "solicitud",
        &attrs,
        "",
        false,
    )
}

/// A `Descargar` envelope.
pub fn download(fiel: &Fiel, package_id: &str) -> Result<String, FielError> {
    let mut attrs = BTreeMap::new();
    attrs.insert("IdPaquete", package_id.to_string());
    attrs.insert("RfcSolicitante", fiel.rfc().to_string());
    body_signed(
        fiel,
        "PeticionDescargaMasivaTercerosEntrada",
        "peticionDescarga",
        &attrs,
        "",
        false,
    )
}
