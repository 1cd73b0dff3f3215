//! Shared helpers: the fixture corpus (when present) and test FIELs generated with the `openssl` CLI.

use chrono::{DateTime, TimeZone, Utc};
use cuadra_sat::fiel::Fiel;
use secrecy::SecretString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `../../../shared/fixtures/sat` when the corpus is present.
pub fn corpus() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/sat");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!(
            "skipping: the shared fixture corpus is absent ({})",
            p.display()
        );
        None
    }
}

pub fn at(y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, mi, s)
        .single()
        .expect("valid test date")
}

/// The clock of the tests: tomorrow at 18:00 UTC, inside the corpus FIEL's validity (until 2027-05-17) and the
/// generated FIELs' (valid from their creation).
#[allow(non_snake_case)]
pub fn NOW() -> DateTime<Utc> {
    let tomorrow = Utc::now().date_naive() + chrono::Duration::days(1);
    Utc.from_utc_datetime(&tomorrow.and_hms_opt(18, 0, 0).expect("valid time"))
}

pub fn password(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

/// Files of a generated credential.
pub struct TestFiel {
    pub dir: tempfile::TempDir,
    pub cer: PathBuf,
    pub key: PathBuf,
    pub password: &'static str,
}

pub const TEST_PASSWORD: &str = "s3cr3t-Pa55";

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

/// Makes an RSA key and a self-signed certificate with `rfc` in the subject x500UniqueIdentifier, the key
/// encrypted as SAT does (PKCS#8 DER, PBES2 + PBKDF2-HMAC-SHA1 + DES-EDE3-CBC).
/// `csd` adds an OU and restricts keyUsage as SAT CSDs are; the certificate is valid from now for `days`.
pub fn make_fiel(rfc: &'static str, csd: bool, days: i64) -> TestFiel {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let subject = if csd {
        format!("/CN=EMPRESA DEMO SA DE CV/O=EMPRESA DEMO SA DE CV/x500UniqueIdentifier={rfc} \\/ XAXX010101000/OU=Sucursal 1")
    } else {
        format!("/CN=EMPRESA DEMO SA DE CV/O=EMPRESA DEMO SA DE CV/C=MX/x500UniqueIdentifier={rfc} \\/ XAXX010101000")
    };
    let usage = if csd {
        "keyUsage=critical,digitalSignature,nonRepudiation"
    } else {
        "keyUsage=critical,digitalSignature,nonRepudiation,dataEncipherment,keyAgreement"
    };
    openssl(&["genrsa", "-out", "plain.pem", "2048"], d);
    // OpenSSL 3.0 cannot set fixed dates on `x509 -req`: the certificate is valid from now for `days`.
    let days = days.max(1).to_string();
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
        format!("{usage}\nextendedKeyUsage=emailProtection,clientAuth\nbasicConstraints=critical,CA:FALSE\n"),
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
            &format!("pass:{TEST_PASSWORD}"),
        ],
        d,
    );
    let _ = std::fs::remove_file(d.join("plain.pem"));
    TestFiel {
        cer: d.join("fiel.cer"),
        key: d.join("fiel.key"),
        dir,
        password: TEST_PASSWORD,
    }
}

impl TestFiel {
    pub fn load(&self, now: DateTime<Utc>) -> Fiel {
        Fiel::load(&self.cer, &self.key, &password(self.password), now).expect("test FIEL loads")
    }
}

/// The SAT test FIEL from the corpus, or a generated one for the same RFC.
pub fn any_fiel() -> (Fiel, TestFielSource) {
    if let Some(c) = corpus() {
        let f = Fiel::load(
            &c.join("fiel/EKU9003173C9.cer"),
            &c.join("fiel/EKU9003173C9.key"),
            &password("12345678a"),
            at(2025, 6, 10, 12, 0, 0),
        )
        .expect("corpus FIEL loads");
        return (f, TestFielSource::Corpus(c));
    }
    let t = make_fiel("EKU9003173C9", false, 3650);
    let f = t.load(NOW());
    (f, TestFielSource::Generated(t))
}

/// Where a FIEL came from (keeps a generated one's temp dir alive).
pub enum TestFielSource {
    Corpus(PathBuf),
    Generated(TestFiel),
}

impl TestFielSource {
    pub fn paths(&self) -> (PathBuf, PathBuf, &'static str) {
        match self {
            TestFielSource::Corpus(c) => (
                c.join("fiel/EKU9003173C9.cer"),
                c.join("fiel/EKU9003173C9.key"),
                "12345678a",
            ),
            TestFielSource::Generated(t) => (t.cer.clone(), t.key.clone(), t.password),
        }
    }
}
