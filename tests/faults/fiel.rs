//! A test FIEL made with openssl, as `tests/it/sat/support.rs` makes it, for the scenario's company RFC: RSA 2048,
//! self-signed, the RFC in x500UniqueIdentifier, the key as encrypted PKCS#8 DER (PBES2, DES-EDE3-CBC).

use std::path::{Path, PathBuf};
use std::process::Command;

const PASSWORD: &str = "Cu4dra-f4ult-pw";

pub struct Fiel {
    _dir: tempfile::TempDir,
    pub cer: PathBuf,
    pub key: PathBuf,
    pub password_file: PathBuf,
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

/// A FIEL of `rfc`, valid from now for a year.
pub fn generate(rfc: &str) -> Fiel {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let subject = format!(
        "/CN=CUADRA FAULTS/O=CUADRA FAULTS/C=MX/x500UniqueIdentifier={rfc} \\/ XAXX010101000"
    );
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
            "365",
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
            &format!("pass:{PASSWORD}"),
        ],
        d,
    );
    let password_file = d.join("fiel.password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).expect("password file");
    Fiel {
        cer: d.join("fiel.cer"),
        key: d.join("fiel.key"),
        password_file,
        _dir: dir,
    }
}
