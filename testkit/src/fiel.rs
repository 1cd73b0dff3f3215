//! A test FIEL made with openssl, like the SAT issues one: RSA 2048, self-signed, the RFC in
//! x500UniqueIdentifier, the key as encrypted PKCS#8 DER (PBES2, PBKDF2-HMAC-SHA1, DES-EDE3-CBC). Needs the
//! `openssl` command; panics (a test's setup) when it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

/// FIEL files as a user configures them, in a temporary folder kept while this lives.
pub struct GeneratedFiel {
    pub dir: tempfile::TempDir,
    pub cer: PathBuf,
    pub key: PathBuf,
    /// The password, on one line.
    pub password_file: PathBuf,
    /// The unencrypted private key (PKCS#8 DER): the bytes no log may show.
    pub plain_key_der: Vec<u8>,
}

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A FIEL of `rfc` held by `holder`, valid from now for `days` days (at least 1), its key encrypted with
/// `password`.
pub fn generate(rfc: &str, holder: &str, days: u32, password: &str) -> GeneratedFiel {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let subject =
        format!("/CN={holder}/O={holder}/C=MX/x500UniqueIdentifier={rfc} \\/ XAXX010101000");
    openssl(&["genrsa", "-out", "plain.pem", "2048"], d);
    openssl(
        &[
            "req",
            "-new",
            "-key",
            "plain.pem",
            "-subj",
            &subject,
            "-out",
            "req.csr",
        ],
        d,
    );
    std::fs::write(
        d.join("ext.cnf"),
        "keyUsage=critical,digitalSignature,nonRepudiation,dataEncipherment,keyAgreement\n\
         extendedKeyUsage=emailProtection,clientAuth\nbasicConstraints=critical,CA:FALSE\n",
    )
    .expect("write ext");
    let days = days.max(1).to_string();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "req.csr",
            "-signkey",
            "plain.pem",
            "-out",
            "cert.pem",
            "-set_serial",
            "0x3330303031303030303030353030303039393939",
            "-extfile",
            "ext.cnf",
            "-days",
            &days,
        ],
        d,
    );
    openssl(
        &[
            "x509", "-in", "cert.pem", "-outform", "DER", "-out", "fiel.cer",
        ],
        d,
    );
    openssl(
        &[
            "pkcs8",
            "-topk8",
            "-v2",
            "des3",
            "-v2prf",
            "hmacWithSHA1",
            "-in",
            "plain.pem",
            "-outform",
            "DER",
            "-out",
            "fiel.key",
            "-passout",
            &format!("pass:{password}"),
        ],
        d,
    );
    openssl(
        &[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            "plain.pem",
            "-outform",
            "DER",
            "-out",
            "plain.der",
        ],
        d,
    );
    let plain_key_der = std::fs::read(d.join("plain.der")).expect("plain key");
    for f in ["plain.pem", "plain.der", "req.csr", "cert.pem"] {
        let _ = std::fs::remove_file(d.join(f));
    }
    let password_file = d.join("fiel.password");
    std::fs::write(&password_file, format!("{password}\n")).expect("password file");
    GeneratedFiel {
        cer: d.join("fiel.cer"),
        key: d.join("fiel.key"),
        password_file,
        plain_key_der,
        dir,
    }
}
