//! Response payloads of the fake SAT, modelled on the captured responses in the fixture corpus
//! (`soap/*/response-*.xml`) with the values templated.

use base64::Engine;
use chrono::{DateTime, Utc};
use cuadra_sat::envelope::{format_timestamp, NS_DES, NS_SOAP, NS_WSSE, NS_WSU};
use cuadra_sat::xml::escape;

const BODY_NS: &str = "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"";

fn millis(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A token shaped like SAT's: JWT (`actort` = hex of the certificate number) + `%26wrap_subject%3d…`.
pub fn token(
    no_certificado: &str,
    created: DateTime<Utc>,
    expires: DateTime<Utc>,
    nonce: u64,
) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s.as_bytes());
    let actort = hex::encode(no_certificado.as_bytes());
    let header = b64(r#"{"alg":"http://www.w3.org/2001/04/xmldsig-more#hmac-sha256","typ":"JWT"}"#);
    let claims = b64(&format!(
        r#"{{"nbf":{},"exp":{},"iat":{},"iss":"LoadSolicitudDecargaMasivaTerceros","actort":"{actort}"}}"#,
        created.timestamp(),
        expires.timestamp(),
        created.timestamp()
    ));
    let sig = b64(&format!("fake-signature-{nonce}"));
    format!("{header}.{claims}.{sig}%26wrap_subject%3d{actort}")
}

pub fn authenticate(token: &str, created: DateTime<Utc>, expires: DateTime<Utc>) -> String {
    let _ = format_timestamp;
    format!(
        "<?xml version=\"1.0\"?>\n<s:Envelope xmlns:s=\"{NS_SOAP}\" xmlns:u=\"{NS_WSU}\"><s:Header><o:Security xmlns:o=\"{NS_WSSE}\" s:mustUnderstand=\"1\"><u:Timestamp u:Id=\"_0\"><u:Created>{}</u:Created><u:Expires>{}</u:Expires></u:Timestamp></o:Security></s:Header><s:Body><AutenticaResponse xmlns=\"http://DescargaMasivaTerceros.gob.mx\"><AutenticaResult>{}</AutenticaResult></AutenticaResponse></s:Body></s:Envelope>",
        millis(created),
        millis(expires),
        escape(token)
    )
}

pub fn fault() -> String {
    format!(
        "<s:Envelope xmlns:s=\"{NS_SOAP}\"><s:Body><s:Fault><faultcode xmlns:a=\"{NS_WSSE}\">a:InvalidSecurity</faultcode><faultstring xml:lang=\"en-US\">An error occurred when verifying security for the message.</faultstring></s:Fault></s:Body></s:Envelope>"
    )
}

pub fn query(
    operation: &str,
    request_id: Option<&str>,
    code: u32,
    message: &str,
    rfc: &str,
) -> String {
    let id = request_id
        .map(|i| format!(" IdSolicitud=\"{}\"", escape(i)))
        .unwrap_or_default();
    format!(
        "<?xml version=\"1.0\"?>\n<s:Envelope xmlns:s=\"{NS_SOAP}\"><s:Body {BODY_NS}><{operation}Response xmlns=\"{NS_DES}\"><{operation}Result{id} RfcSolicitante=\"{}\" CodEstatus=\"{code}\" Mensaje=\"{}\" /></{operation}Response></s:Body></s:Envelope>",
        escape(rfc),
        escape(message)
    )
}

pub struct VerifyAnswer<'a> {
    pub code: u32,
    pub state: u32,
    pub state_code: u32,
    pub count: u64,
    pub message: &'a str,
    pub packages: &'a [String],
}

pub fn verify(a: &VerifyAnswer<'_>) -> String {
    let ids: String = a
        .packages
        .iter()
        .map(|p| format!("<IdsPaquetes>{}</IdsPaquetes>", escape(p)))
        .collect();
    format!(
        "<s:Envelope xmlns:s=\"{NS_SOAP}\"><s:Body {BODY_NS}><VerificaSolicitudDescargaResponse xmlns=\"{NS_DES}\"><VerificaSolicitudDescargaResult CodEstatus=\"{}\" EstadoSolicitud=\"{}\" CodigoEstadoSolicitud=\"{}\" NumeroCFDIs=\"{}\" Mensaje=\"{}\">{ids}</VerificaSolicitudDescargaResult></VerificaSolicitudDescargaResponse></s:Body></s:Envelope>",
        a.code,
        a.state,
        a.state_code,
        a.count,
        escape(a.message)
    )
}

pub fn download(code: u32, message: &str, package: &[u8]) -> String {
    let paquete = if package.is_empty() {
        "<Paquete />".to_string()
    } else {
        format!(
            "<Paquete>{}</Paquete>",
            base64::engine::general_purpose::STANDARD.encode(package)
        )
    };
    format!(
        "<s:Envelope xmlns:s=\"{NS_SOAP}\"><s:Header><h:respuesta CodEstatus=\"{code}\" Mensaje=\"{}\" xmlns:h=\"{NS_DES}\" xmlns=\"{NS_DES}\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" /></s:Header><s:Body {BODY_NS}><RespuestaDescargaMasivaTercerosSalida xmlns=\"{NS_DES}\">{paquete}</RespuestaDescargaMasivaTercerosSalida></s:Body></s:Envelope>",
        escape(message)
    )
}
