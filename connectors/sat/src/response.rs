//! Parsers for the four services' responses (sat.md §4, §5.4, §6, §7) and for SOAP faults. Elements are found by
//! local name, case-insensitively; status codes are kept as numbers and interpreted by the state machine.

use crate::xml::{self, Element};
use base64::Engine;
use chrono::{DateTime, Utc};
use std::fmt;

/// A SOAP fault (`Body/Fault/faultcode`, `faultstring`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapFault {
    pub code: String,
    pub message: String,
}

/// Why a response could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error("SOAP fault {}: {}", .0.code, .0.message)]
    Fault(SoapFault),
    #[error("malformed {operation} response: {reason}")]
    Malformed {
        operation: &'static str,
        reason: String,
    },
}

/// The token from `Autentica`. `Debug` does not show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthToken {
    pub value: String,
    pub created: DateTime<Utc>,
    pub expires: DateTime<Utc>,
    /// `exp` claim of the JWT when it can be read.
    pub jwt_exp: Option<DateTime<Utc>>,
}

impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthToken")
            .field("created", &self.created)
            .field("expires", &self.expires)
            .field("value", &"[redacted]")
            .finish()
    }
}

/// `SolicitaDescarga*Result`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryResult {
    pub request_id: Option<String>,
    pub code: u32,
    pub message: String,
}

/// `VerificaSolicitudDescargaResult`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyResult {
    pub code: u32,
    pub message: String,
    /// `EstadoSolicitud` 1 accepted, 2 in progress, 3 finished, 4 error, 5 rejected, 6 expired.
    pub state: u32,
    /// `CodigoEstadoSolicitud` (5000, 5002, 5003, 5004, 5005, 5011).
    pub state_code: u32,
    pub cfdi_count: u64,
    pub packages: Vec<String>,
}

/// `Descargar`: status from the SOAP header and the decoded package.
#[derive(Clone, PartialEq, Eq)]
pub struct DownloadResult {
    pub code: u32,
    pub message: String,
    pub package: Vec<u8>,
}

impl fmt::Debug for DownloadResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DownloadResult {{ code: {}, message: {:?}, package: {} bytes }}",
            self.code,
            self.message,
            self.package.len()
        )
    }
}

fn malformed(operation: &'static str, reason: impl Into<String>) -> ResponseError {
    ResponseError::Malformed {
        operation,
        reason: reason.into(),
    }
}

/// Parses the document and turns a SOAP fault into an error.
fn root(body: &[u8], operation: &'static str) -> Result<Element, ResponseError> {
    let root = xml::parse(body).map_err(|e| malformed(operation, e))?;
    if let Some(f) = fault(&root) {
        return Err(ResponseError::Fault(f));
    }
    Ok(root)
}

/// The SOAP fault in a parsed document, if any.
pub fn fault(root: &Element) -> Option<SoapFault> {
    let f = root.path(&["Body", "Fault"])?;
    let code = f.find("faultcode").map(|e| e.text()).unwrap_or_default();
    let message = f.find("faultstring").map(|e| e.text()).unwrap_or_default();
    Some(SoapFault {
        code: code.trim().to_string(),
        message: message.trim().to_string(),
    })
}

fn code_attr(e: &Element, name: &str, operation: &'static str) -> Result<u32, ResponseError> {
    let v = e
        .attr(name)
        .ok_or_else(|| malformed(operation, format!("attribute {name} is missing")))?;
    v.trim().parse().map_err(|_| {
        malformed(
            operation,
            format!("attribute {name} should be a number, found {v:?}"),
        )
    })
}

fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// `Autentica` response.
pub fn parse_authenticate(body: &[u8]) -> Result<AuthToken, ResponseError> {
    const OP: &str = "Autentica";
    let root = root(body, OP)?;
    let value = root
        .find("AutenticaResult")
        .map(|e| e.text().trim().to_string())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| malformed(OP, "AutenticaResult is missing or empty"))?;
    let ts = root
        .path(&["Header", "Security", "Timestamp"])
        .ok_or_else(|| malformed(OP, "Header/Security/Timestamp is missing"))?;
    let created = ts
        .find("Created")
        .and_then(|e| parse_instant(&e.text()))
        .ok_or_else(|| malformed(OP, "Timestamp/Created is missing or not a date"))?;
    let expires = ts
        .find("Expires")
        .and_then(|e| parse_instant(&e.text()))
        .ok_or_else(|| malformed(OP, "Timestamp/Expires is missing or not a date"))?;
    let jwt_exp = jwt_exp(&value);
    Ok(AuthToken {
        value,
        created,
        expires,
        jwt_exp,
    })
}

/// The `exp` claim of the JWT part of a token (the value may end in `%26wrap_subject%3d…`).
fn jwt_exp(token: &str) -> Option<DateTime<Utc>> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    DateTime::from_timestamp(v.get("exp")?.as_i64()?, 0)
}

/// Any `SolicitaDescarga{Emitidos,Recibidos,Folio}` response.
pub fn parse_query(body: &[u8]) -> Result<QueryResult, ResponseError> {
    const OP: &str = "SolicitaDescarga";
    let root = root(body, OP)?;
    let body_el = root
        .path(&["Body"])
        .ok_or_else(|| malformed(OP, "Body is missing"))?;
    let result = body_el
        .elements()
        .flat_map(|r| r.elements())
        .find(|e| {
            let n = e.local_name().to_ascii_lowercase();
            n.starts_with("solicitadescarga") && n.ends_with("result")
        })
        .ok_or_else(|| malformed(OP, "SolicitaDescarga…Result is missing"))?;
    Ok(QueryResult {
        request_id: result
            .attr("IdSolicitud")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        code: code_attr(result, "CodEstatus", OP)?,
        message: result.attr("Mensaje").unwrap_or_default().to_string(),
    })
}

/// `VerificaSolicitudDescarga` response.
pub fn parse_verify(body: &[u8]) -> Result<VerifyResult, ResponseError> {
    const OP: &str = "VerificaSolicitudDescarga";
    let root = root(body, OP)?;
    let r = root
        .find("VerificaSolicitudDescargaResult")
        .ok_or_else(|| malformed(OP, "VerificaSolicitudDescargaResult is missing"))?;
    let code = code_attr(r, "CodEstatus", OP)?;
    let optional = |name: &str| -> Result<u64, ResponseError> {
        match r.attr(name) {
            None => Ok(0),
            Some(v) => v.trim().parse().map_err(|_| {
                malformed(
                    OP,
                    format!("attribute {name} should be a number, found {v:?}"),
                )
            }),
        }
    };
    Ok(VerifyResult {
        code,
        message: r.attr("Mensaje").unwrap_or_default().to_string(),
        state: u32::try_from(optional("EstadoSolicitud")?).unwrap_or(u32::MAX),
        state_code: u32::try_from(optional("CodigoEstadoSolicitud")?).unwrap_or(u32::MAX),
        cfdi_count: optional("NumeroCFDIs")?,
        packages: r
            .children_named("IdsPaquetes")
            .map(|e| e.text().trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    })
}

/// `Descargar` response; the package is base64-decoded (whitespace inside the text is ignored).
pub fn parse_download(body: &[u8]) -> Result<DownloadResult, ResponseError> {
    const OP: &str = "Descargar";
    let root = root(body, OP)?;
    let header = root
        .path(&["Header", "respuesta"])
        .ok_or_else(|| malformed(OP, "Header/respuesta is missing"))?;
    let code = code_attr(header, "CodEstatus", OP)?;
    let text = root.find("Paquete").map(|e| e.text()).unwrap_or_default();
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let package = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| malformed(OP, format!("Paquete is not base64: {e}")))?;
    Ok(DownloadResult {
        code,
        message: header.attr("Mensaje").unwrap_or_default().to_string(),
        package,
    })
}

/// Fuzzing entry point (feature `fuzzing`): runs every response parser over arbitrary bytes; must never panic.
#[cfg(feature = "fuzzing")]
pub fn fuzz_responses(data: &[u8]) {
    let _ = parse_authenticate(data);
    let _ = parse_query(data);
    let _ = parse_verify(data);
    let _ = parse_download(data);
}
