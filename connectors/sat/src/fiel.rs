//! The FIEL (e.firma): the `.cer` certificate (DER X.509) and the `.key` private key (encrypted PKCS#8 DER,
//! PBES2 + PBKDF2-HMAC-SHA1 + DES-EDE3-CBC as SAT issues them) opened with the user's password. Loading checks that
//! key and certificate belong together, that it is a FIEL and not a CSD, and that it is valid at `now`
//! (sat.md §11). Neither `Debug` nor any error ever shows key bytes or the password.

use crate::cert::{self, CertInfo};
use base64::Engine;
use chrono::{DateTime, Utc};
use pkcs8::{DecodePrivateKey, EncryptedPrivateKeyInfo};
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use secrecy::{ExposeSecret, SecretString};
use sha1::Sha1;
use std::fmt;
use std::path::{Path, PathBuf};

/// Why a FIEL could not be used. Messages are one line and name the file where one is involved.
#[derive(Debug, thiserror::Error)]
pub enum FielError {
    #[error("cannot read {}: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("{}: not a DER X.509 certificate ({reason})", path.display())]
    BadCertificate { path: PathBuf, reason: String },
    #[error("{}: not an encrypted PKCS#8 private key in DER form (the SAT .key file) ({reason})", path.display())]
    BadKey { path: PathBuf, reason: String },
    #[error("{}: the FIEL password is wrong", path.display())]
    WrongPassword { path: PathBuf },
    #[error("{} does not belong to the certificate {}: they are from different FIELs", key.display(), cert.display())]
    Mismatch { key: PathBuf, cert: PathBuf },
    #[error("{}: this is a CSD (sello digital) certificate, not a FIEL (e.firma); the SAT download service needs the FIEL", path.display())]
    NotFiel { path: PathBuf },
    #[error("{}: the FIEL expired on {not_after}; renew it at the SAT and configure the new files", path.display())]
    Expired {
        path: PathBuf,
        not_after: DateTime<Utc>,
    },
    #[error("{}: the FIEL is not valid before {not_before}", path.display())]
    NotYetValid {
        path: PathBuf,
        not_before: DateTime<Utc>,
    },
    #[error("{}: the certificate carries no RFC (subject x500UniqueIdentifier)", path.display())]
    NoRfc { path: PathBuf },
    #[error("signing failed: {0}")]
    Signing(String),
}

/// A loaded, checked FIEL. Cloning shares nothing mutable; the private key never leaves this type.
#[derive(Clone)]
pub struct Fiel {
    info: CertInfo,
    key: RsaPrivateKey,
}

impl fmt::Debug for Fiel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fiel")
            .field("rfc", &self.info.rfc)
            .field("serial_number", &self.info.no_certificado)
            .field("not_after", &self.info.not_after)
            .field("key", &"[redacted]")
            .finish()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, FielError> {
    std::fs::read(path).map_err(|e| FielError::Unreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

impl Fiel {
    /// Reads and checks `.cer` + `.key` with `password`, valid at `now`.
    pub fn load(
        cer_path: &Path,
        key_path: &Path,
        password: &SecretString,
        now: DateTime<Utc>,
    ) -> Result<Fiel, FielError> {
        let cer = read(cer_path)?;
        let key = read(key_path)?;
        Self::from_der(&cer, cer_path, &key, key_path, password, now)
    }

    /// Like [`Fiel::load`] from bytes already read; the paths only name the inputs in errors.
    pub fn from_der(
        cer: &[u8],
        cer_path: &Path,
        key_der: &[u8],
        key_path: &Path,
        password: &SecretString,
        now: DateTime<Utc>,
    ) -> Result<Fiel, FielError> {
        let info = cert::parse(cer).map_err(|reason| FielError::BadCertificate {
            path: cer_path.to_path_buf(),
            reason,
        })?;
        let key = decrypt_key(key_der, key_path, password)?;
        let fiel = Fiel { info, key };
        if fiel.key.n() != &fiel.info.modulus || fiel.key.e() != &fiel.info.exponent {
            return Err(FielError::Mismatch {
                key: key_path.to_path_buf(),
                cert: cer_path.to_path_buf(),
            });
        }
        if fiel.info.is_csd {
            return Err(FielError::NotFiel {
                path: cer_path.to_path_buf(),
            });
        }
        if fiel.info.rfc.is_empty() {
            return Err(FielError::NoRfc {
                path: cer_path.to_path_buf(),
            });
        }
        if now > fiel.info.not_after {
            return Err(FielError::Expired {
                path: cer_path.to_path_buf(),
                not_after: fiel.info.not_after,
            });
        }
        if now < fiel.info.not_before {
            return Err(FielError::NotYetValid {
                path: cer_path.to_path_buf(),
                not_before: fiel.info.not_before,
            });
        }
        Ok(fiel)
    }

    /// The RFC of the holder (first word of the subject x500UniqueIdentifier), upper case.
    pub fn rfc(&self) -> &str {
        &self.info.rfc
    }

    /// The certificate number as SAT prints it (`NoCertificado`, 20 digits).
    pub fn serial_number(&self) -> &str {
        &self.info.no_certificado
    }

    /// The serial as a decimal integer (XML-DSig `X509SerialNumber`).
    pub fn serial_decimal(&self) -> &str {
        &self.info.serial_decimal
    }

    /// The issuer as RFC 4514 short names in certificate order (XML-DSig `X509IssuerName`).
    pub fn issuer_name(&self) -> &str {
        &self.info.issuer
    }

    pub fn not_before(&self) -> DateTime<Utc> {
        self.info.not_before
    }

    pub fn not_after(&self) -> DateTime<Utc> {
        self.info.not_after
    }

    /// Whole days left until expiry (negative once expired).
    pub fn days_to_expiry(&self, now: DateTime<Utc>) -> i64 {
        (self.info.not_after - now).num_days()
    }

    /// The certificate DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.info.der
    }

    /// The certificate DER in base64 on one line.
    pub fn certificate_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.info.der)
    }

    /// RSASSA-PKCS1-v1_5 with SHA-1 over `data`, base64 (what `SignatureValue` carries).
    pub fn sign_sha1_base64(&self, data: &[u8]) -> Result<String, FielError> {
        let signer = SigningKey::<Sha1>::new(self.key.clone());
        let sig = signer
            .try_sign(data)
            .map_err(|e| FielError::Signing(e.to_string()))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(sig.to_bytes()))
    }
}

fn decrypt_key(
    der: &[u8],
    path: &Path,
    password: &SecretString,
) -> Result<RsaPrivateKey, FielError> {
    let bad = |reason: String| FielError::BadKey {
        path: path.to_path_buf(),
        reason,
    };
    if der.starts_with(b"-----BEGIN") {
        return Err(bad(
            "found PEM text; give the binary .key file SAT issued".into()
        ));
    }
    let enc = EncryptedPrivateKeyInfo::try_from(der).map_err(|e| bad(e.to_string()))?;
    let doc = enc
        .decrypt(password.expose_secret().as_bytes())
        .map_err(|_| FielError::WrongPassword {
            path: path.to_path_buf(),
        })?;
    // A wrong password almost always fails the padding check above; when it does not, the plaintext is garbage
    // that does not parse as a key.
    RsaPrivateKey::from_pkcs8_der(doc.as_bytes()).map_err(|_| FielError::WrongPassword {
        path: path.to_path_buf(),
    })
}
