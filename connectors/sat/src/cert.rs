//! Reading the facts SAT cares about from a FIEL/CSD certificate: RFC (subject x500UniqueIdentifier), the
//! certificate number (serial bytes are ASCII digits), the decimal serial and RFC 4514 issuer for XML-DSig,
//! validity, the RSA public key, and whether it is a CSD (subject OU, or keyUsage without dataEncipherment and
//! keyAgreement) — sat.md §3.3 and §11.

use chrono::{DateTime, Utc};
use der::asn1::BitString;
use der::{Decode, Encode, Tag, Tagged};
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPublicKey};
use x509_cert::Certificate;

/// What the rest of the crate needs from a certificate.
#[derive(Clone, Debug)]
pub struct CertInfo {
    pub der: Vec<u8>,
    pub rfc: String,
    pub no_certificado: String,
    pub serial_decimal: String,
    pub issuer: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub is_csd: bool,
    pub modulus: BigUint,
    pub exponent: BigUint,
}

const OID_OU: &str = "2.5.4.11";
const OID_UNIQUE_ID: &str = "2.5.4.45";
const OID_KEY_USAGE: &str = "2.5.29.15";

fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.4" => "SN",
        "2.5.4.5" => "serialNumber",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "street",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.12" => "title",
        "2.5.4.17" => "postalCode",
        "2.5.4.41" => "name",
        "2.5.4.42" => "GN",
        "2.5.4.45" => "x500UniqueIdentifier",
        "1.2.840.113549.1.9.1" => "emailAddress",
        "1.2.840.113549.1.9.2" => "unstructuredName",
        "0.9.2342.19200300.100.1.1" => "UID",
        "0.9.2342.19200300.100.1.25" => "DC",
        _ => return None,
    })
}

/// Text of a directory string value (Printable, UTF8, IA5, Teletex as Latin-1, BMP as UTF-16).
fn value_text(v: &der::Any) -> String {
    let bytes = v.value();
    match v.tag() {
        Tag::BmpString => {
            let units: Vec<u16> = bytes
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        Tag::TeletexString => bytes.iter().map(|&b| b as char).collect(),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// RFC 4514 escaping of one attribute value.
fn rfc4514_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let n = v.chars().count();
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, '\\' | '"' | '+' | ',' | ';' | '<' | '=' | '>')
            || (i == 0 && (c == '#' || c == ' '))
            || (i + 1 == n && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Parses a DER certificate. Errors are short reasons; the caller names the file.
pub fn parse(der_bytes: &[u8]) -> Result<CertInfo, String> {
    let cert = Certificate::from_der(der_bytes).map_err(|e| e.to_string())?;
    let tbs = &cert.tbs_certificate;

    let mut rfc = String::new();
    let mut has_ou = false;
    for rdn in tbs.subject.0.iter() {
        for atv in rdn.0.iter() {
            let oid = atv.oid.to_string();
            if oid == OID_OU {
                has_ou = true;
            }
            if oid == OID_UNIQUE_ID && rfc.is_empty() {
                let text = value_text(&atv.value);
                rfc = text
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_uppercase();
            }
        }
    }

    let mut issuer_parts = Vec::new();
    for rdn in tbs.issuer.0.iter() {
        for atv in rdn.0.iter() {
            let oid = atv.oid.to_string();
            let name = short_name(&oid).map(str::to_string).unwrap_or(oid);
            issuer_parts.push(format!(
                "{name}={}",
                rfc4514_escape(&value_text(&atv.value))
            ));
        }
    }

    let serial = tbs.serial_number.as_bytes();
    let no_certificado = if !serial.is_empty() && serial.iter().all(u8::is_ascii_digit) {
        String::from_utf8_lossy(serial).into_owned()
    } else {
        hex::encode(serial)
    };
    let serial_decimal = BigUint::from_bytes_be(serial).to_string();

    let mut key_usage_says_csd = false;
    if let Some(exts) = &tbs.extensions {
        for ext in exts {
            if ext.extn_id.to_string() == OID_KEY_USAGE {
                if let Ok(bits) = BitString::from_der(ext.extn_value.as_bytes()) {
                    let first = bits.raw_bytes().first().copied().unwrap_or(0);
                    // bit 3 dataEncipherment, bit 4 keyAgreement (MSB first).
                    let data_enc = first & 0x10 != 0;
                    let key_agree = first & 0x08 != 0;
                    key_usage_says_csd = !data_enc && !key_agree;
                }
            }
        }
    }

    let spki = tbs
        .subject_public_key_info
        .to_der()
        .map_err(|e| e.to_string())?;
    let public = RsaPublicKey::from_public_key_der(&spki)
        .map_err(|e| format!("the certificate key is not RSA: {e}"))?;

    Ok(CertInfo {
        der: der_bytes.to_vec(),
        rfc,
        no_certificado,
        serial_decimal,
        issuer: issuer_parts.join(","),
        not_before: to_utc(tbs.validity.not_before.to_system_time()),
        not_after: to_utc(tbs.validity.not_after.to_system_time()),
        is_csd: has_ou || key_usage_says_csd,
        modulus: public.n().clone(),
        exponent: public.e().clone(),
    })
}

fn to_utc(t: std::time::SystemTime) -> DateTime<Utc> {
    DateTime::<Utc>::from(t)
}

/// The RSA public key of a DER certificate (used by the fake server to check signatures).
pub fn public_key(der_bytes: &[u8]) -> Result<RsaPublicKey, String> {
    let cert = Certificate::from_der(der_bytes).map_err(|e| e.to_string())?;
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| e.to_string())?;
    RsaPublicKey::from_public_key_der(&spki).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_rfc4514() {
        assert_eq!(rfc4514_escape("a,b"), "a\\,b");
        assert_eq!(rfc4514_escape(" x "), "\\ x\\ ");
        assert_eq!(
            rfc4514_escape("responsable: ACDMA-SAT"),
            "responsable: ACDMA-SAT"
        );
    }
}
