//! Secrets shared by every connector: reading one from a `*_file` key's file, and comparing secrets in constant
//! time.

use secrecy::SecretString;
use std::path::Path;
use subtle::ConstantTimeEq;

/// Constant-time equality (lengths may differ; that is not secret).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Reads the secret a `*_file` key names, without its trailing line breaks (`\n`, `\r\n`). The caller's error
/// names the key and the path; the content never appears in an error.
pub fn read_secret_file(path: &Path) -> std::io::Result<SecretString> {
    let text = std::fs::read_to_string(path)?;
    Ok(SecretString::from(
        text.trim_end_matches(['\r', '\n']).to_string(),
    ))
}
