//! Signature checks the fake SAT performs on what it receives, as the real service does: the `Autentica`
//! WS-Security timestamp signature and the enveloped XML-DSig signature of query/verify/download bodies, both
//! against the registered FIEL certificate.

use super::c14n::{self, NsMap};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use cuadra_sat::xml::Element;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use rsa::RsaPublicKey;
use sha1::{Digest, Sha1};

fn b64(s: &str) -> Result<Vec<u8>, String> {
    let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| format!("bad base64: {e}"))
}

/// Checks `Signature` (whose parent scope is `sig_scope`): digest of `referenced` and RSA-SHA1 of SignedInfo.
fn check_signature(
    sig: &Element,
    sig_scope: &NsMap,
    referenced_c14n: &str,
    key: &RsaPublicKey,
) -> Result<(), String> {
    let signed_info = sig.find("SignedInfo").ok_or("SignedInfo missing")?;
    let digest = signed_info
        .find("DigestValue")
        .map(|e| e.text())
        .ok_or("DigestValue missing")?;
    let computed =
        base64::engine::general_purpose::STANDARD.encode(Sha1::digest(referenced_c14n.as_bytes()));
    if digest.trim() != computed {
        return Err(format!(
            "digest mismatch: sent {digest}, computed {computed}"
        ));
    }
    let scope = c14n::extend_scope(sig_scope, sig);
    let si = c14n::canonicalize(signed_info, &scope, &|_| false);
    let value = sig
        .find("SignatureValue")
        .map(|e| e.text())
        .ok_or("SignatureValue missing")?;
    let sig_bytes = Signature::try_from(b64(&value)?.as_slice()).map_err(|e| e.to_string())?;
    VerifyingKey::<Sha1>::new(key.clone())
        .verify(si.as_bytes(), &sig_bytes)
        .map_err(|_| "signature does not verify with the FIEL certificate".to_string())
}

/// Checks an `Autentica` request; returns the signed timestamp window.
pub fn authenticate(
    root: &Element,
    cert_der: &[u8],
    key: &RsaPublicKey,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let (ts, ts_scope) =
        c14n::find_with_scope(root, &NsMap::new(), &|e| e.local_name() == "Timestamp")
            .ok_or("Timestamp missing")?;
    let token = root
        .find("BinarySecurityToken")
        .ok_or("BinarySecurityToken missing")?;
    if b64(&token.text())? != cert_der {
        return Err("BinarySecurityToken is not the registered FIEL certificate".into());
    }
    let (sig, sig_scope) =
        c14n::find_with_scope(root, &NsMap::new(), &|e| e.local_name() == "Signature")
            .ok_or("Signature missing")?;
    let reference = sig
        .find("Reference")
        .and_then(|r| r.attr("URI"))
        .unwrap_or_default();
    if reference != "#_0" || ts.attr("Id") != Some("_0") {
        return Err("the signature does not reference the Timestamp".into());
    }
    check_signature(
        sig,
        &sig_scope,
        &c14n::canonicalize(ts, &ts_scope, &|_| false),
        key,
    )?;
    let parse = |name: &str| -> Result<DateTime<Utc>, String> {
        let t = ts.find(name).map(|e| e.text()).unwrap_or_default();
        DateTime::parse_from_rfc3339(t.trim())
            .map(|d| d.with_timezone(&Utc))
            .map_err(|_| format!("Timestamp/{name} is not a date"))
    };
    let (created, expires) = (parse("Created")?, parse("Expires")?);
    let tolerance = Duration::minutes(5);
    if created > now + tolerance || expires < now || created < now - tolerance {
        return Err(format!(
            "Timestamp {created}..{expires} is outside the service clock {now}"
        ));
    }
    Ok(())
}

/// Checks a body-signed request; returns the signed element (`solicitud` / `peticionDescarga`).
pub fn body<'a>(
    root: &'a Element,
    cert_der: &[u8],
    key: &RsaPublicKey,
) -> Result<&'a Element, String> {
    let body = root.path(&["Body"]).ok_or("Body missing")?;
    let op = body.elements().next().ok_or("operation element missing")?;
    let (op, op_scope) = c14n::find_with_scope(root, &NsMap::new(), &|e| std::ptr::eq(e, op))
        .ok_or("operation element missing")?;
    let request = op.elements().next().ok_or("request element missing")?;
    let sig = request
        .elements()
        .find(|e| e.local_name() == "Signature")
        .ok_or("Signature missing")?;
    let cert = sig
        .find("X509Certificate")
        .map(|e| e.text())
        .unwrap_or_default();
    if b64(&cert)? != cert_der {
        return Err("X509Certificate is not the registered FIEL certificate".into());
    }
    let reference = sig
        .find("Reference")
        .and_then(|r| r.attr("URI"))
        .unwrap_or("");
    if !reference.is_empty() {
        return Err(format!("unexpected Reference URI {reference:?}"));
    }
    let digest_input = c14n::canonicalize(op, &op_scope, &|e| e.local_name() == "Signature");
    let req_scope = c14n::extend_scope(&c14n::extend_scope(&op_scope, op), request);
    check_signature(sig, &req_scope, &digest_input, key)?;
    Ok(request)
}
