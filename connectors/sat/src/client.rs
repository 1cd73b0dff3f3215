//! The SOAP client for the four SAT services (reqwest + rustls). It keeps the `Autentica` token in memory and
//! reuses it until it expires by the caller's clock, re-authenticates once when the service refuses a token, and
//! measures clock skew from the service's `Date` header and token timestamps. Nothing here logs bodies, tokens,
//! keys or passwords.

use crate::envelope::{self, Query};
use crate::fiel::{Fiel, FielError};
use crate::response::{self, AuthToken, DownloadResult, QueryResult, ResponseError, VerifyResult};
use chrono::{DateTime, Duration, Utc};
use sha1::{Digest, Sha1};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The SAT production hosts (sat.md §2.1).
pub const DEFAULT_REQUEST_BASE_URL: &str = "https://cfdidescargamasivasolicitud.clouda.sat.gob.mx";
pub const DEFAULT_DOWNLOAD_BASE_URL: &str = "https://cfdidescargamasiva.clouda.sat.gob.mx";
pub const PATH_AUTH: &str = "/Autenticacion/Autenticacion.svc";
pub const PATH_QUERY: &str = "/SolicitaDescargaService.svc";
pub const PATH_VERIFY: &str = "/VerificaSolicitudDescargaService.svc";
pub const PATH_DOWNLOAD: &str = "/DescargaMasivaService.svc";

const ACTION_AUTH: &str = "http://DescargaMasivaTerceros.gob.mx/IAutenticacion/Autentica";
const ACTION_QUERY_PREFIX: &str =
    "http://DescargaMasivaTerceros.sat.gob.mx/ISolicitaDescargaService/";
const ACTION_VERIFY: &str =
    "http://DescargaMasivaTerceros.sat.gob.mx/IVerificaSolicitudDescargaService/VerificaSolicitudDescarga";
const ACTION_DOWNLOAD: &str =
    "http://DescargaMasivaTerceros.sat.gob.mx/IDescargaMasivaTercerosService/Descargar";

/// Where the services live; the four paths are fixed as in the real service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub request_base_url: String,
    pub download_base_url: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            request_base_url: DEFAULT_REQUEST_BASE_URL.into(),
            download_base_url: DEFAULT_DOWNLOAD_BASE_URL.into(),
        }
    }
}

/// A failed call, classified for the state machine.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Network failure, timeout, HTTP 5xx or empty body: try again later.
    #[error("{operation}: {reason}")]
    Transient {
        operation: &'static str,
        reason: String,
    },
    /// The service refused the FIEL signature on `Autentica` (or a token twice in a row).
    #[error("{operation}: the SAT rejected the authentication ({fault}){hint}")]
    AuthRejected {
        operation: &'static str,
        fault: String,
        hint: String,
    },
    /// HTTP 4xx other than an auth refusal, or a fault on a business call.
    #[error("{operation}: {reason}")]
    Rejected {
        operation: &'static str,
        reason: String,
    },
    #[error(transparent)]
    Malformed(ResponseError),
    #[error(transparent)]
    Fiel(#[from] FielError),
}

#[derive(Clone)]
struct CachedToken {
    value: String,
    valid_until: DateTime<Utc>,
}

/// Seconds of skew (service minus local) above which the client warns.
pub const SKEW_WARN_SECS: i64 = 60;

/// The client. Cheap to share behind an `Arc`.
pub struct SatClient {
    http: reqwest::Client,
    endpoints: Endpoints,
    fiel: Arc<Fiel>,
    token: Mutex<Option<CachedToken>>,
    skew_secs: Mutex<Option<i64>>,
    counter: AtomicU64,
}

impl std::fmt::Debug for SatClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SatClient")
            .field("endpoints", &self.endpoints)
            .field("fiel", &self.fiel)
            .finish_non_exhaustive()
    }
}

enum Raw {
    Ok(Vec<u8>),
    AuthRefused(String),
}

impl SatClient {
    pub fn new(fiel: Arc<Fiel>, endpoints: Endpoints) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(30))
            .timeout(std::time::Duration::from_secs(600))
            .user_agent(concat!("cuadra-sat/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Transient {
                operation: "client",
                reason: e.to_string(),
            })?;
        Ok(SatClient {
            http,
            endpoints,
            fiel,
            token: Mutex::new(None),
            skew_secs: Mutex::new(None),
            counter: AtomicU64::new(0),
        })
    }

    pub fn fiel(&self) -> &Fiel {
        &self.fiel
    }

    /// Last measured skew: service clock minus ours, in seconds.
    pub fn skew_secs(&self) -> Option<i64> {
        self.skew_secs.lock().ok().and_then(|g| *g)
    }

    fn note_skew(&self, server: DateTime<Utc>, now: DateTime<Utc>) {
        let skew = (server - now).num_seconds();
        if skew.abs() > SKEW_WARN_SECS {
            tracing::warn!(
                skew_secs = skew,
                "The SAT service clock differs from ours; check NTP."
            );
        }
        if let Ok(mut g) = self.skew_secs.lock() {
            *g = Some(skew);
        }
    }

    fn skew_hint(&self) -> String {
        match self.skew_secs() {
            Some(s) if s.abs() > SKEW_WARN_SECS => {
                format!("; our clock differs from the SAT's by {s} s, which invalidates the signed timestamp: sync the clock (NTP)")
            }
            _ => String::new(),
        }
    }

    async fn post(
        &self,
        operation: &'static str,
        url: String,
        action: &str,
        body: String,
        token: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Raw, ClientError> {
        let transient = |reason: String| ClientError::Transient { operation, reason };
        let mut req = self
            .http
            .post(url)
            .header("Content-Type", "text/xml; charset=\"utf-8\"")
            .header("Accept", "text/xml")
            .header("Cache-Control", "no-cache")
            .header("SOAPAction", action)
            .body(body);
        if let Some(t) = token {
            req = req.header("Authorization", format!("WRAP access_token=\"{t}\""));
        }
        let resp = req
            .send()
            .await
            .map_err(|e| transient(e.without_url().to_string()))?;
        let status = resp.status();
        if let Some(date) = resp
            .headers()
            .get("date")
            .and_then(|d| d.to_str().ok())
            .and_then(|d| DateTime::parse_from_rfc2822(d).ok())
        {
            self.note_skew(date.with_timezone(&Utc), now);
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| transient(e.without_url().to_string()))?
            .to_vec();
        tracing::debug!(
            operation,
            status = status.as_u16(),
            bytes = bytes.len(),
            "SAT answered."
        );
        let fault = crate::xml::parse(&bytes)
            .ok()
            .and_then(|r| response::fault(&r));
        if status.as_u16() == 401 || status.as_u16() == 403 {
            let f = fault.map(|f| format!("{}: {}", f.code, f.message));
            return Ok(Raw::AuthRefused(
                f.unwrap_or_else(|| format!("HTTP {status}")),
            ));
        }
        if let Some(f) = fault {
            if operation == "Autentica" || f.code.to_ascii_lowercase().contains("security") {
                return Ok(Raw::AuthRefused(format!("{}: {}", f.code, f.message)));
            }
            return Err(ClientError::Rejected {
                operation,
                reason: format!("SOAP fault {}: {}", f.code, f.message),
            });
        }
        if status.is_server_error() {
            return Err(transient(format!("HTTP {status}")));
        }
        if status.is_client_error() {
            return Err(ClientError::Rejected {
                operation,
                reason: format!("HTTP {status}"),
            });
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(transient("empty response body".into()));
        }
        Ok(Raw::Ok(bytes))
    }

    fn token_id(&self, now: DateTime<Utc>) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let seed = format!(
            "{}-{}-{}-{n}",
            now.timestamp_nanos_opt().unwrap_or(0),
            std::process::id(),
            self.fiel.serial_number()
        );
        let h = hex::encode(Sha1::digest(seed.as_bytes()));
        format!(
            "uuid-{}-{}-{}-{}-{}-1",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }

    /// Calls `Autentica` and caches the token.
    #[tracing::instrument(skip_all, fields(connector = "sat"))]
    pub async fn authenticate(&self, now: DateTime<Utc>) -> Result<AuthToken, ClientError> {
        let body = envelope::authenticate(
            &self.fiel,
            now,
            now + Duration::minutes(5),
            &self.token_id(now),
        )?;
        let url = format!("{}{PATH_AUTH}", self.endpoints.request_base_url);
        let raw = self
            .post("Autentica", url, ACTION_AUTH, body, None, now)
            .await?;
        let bytes = match raw {
            Raw::Ok(b) => b,
            Raw::AuthRefused(fault) => {
                return Err(ClientError::AuthRejected {
                    operation: "Autentica",
                    fault,
                    hint: self.skew_hint(),
                })
            }
        };
        let token = response::parse_authenticate(&bytes).map_err(ClientError::Malformed)?;
        self.note_skew(token.created, now);
        let mut end = token.expires;
        if let Some(exp) = token.jwt_exp {
            end = end.min(exp);
        }
        let lifetime = end - token.created;
        let margin = Duration::seconds(30).min(lifetime / 2);
        let cached = CachedToken {
            value: token.value.clone(),
            valid_until: now + lifetime - margin,
        };
        if let Ok(mut g) = self.token.lock() {
            *g = Some(cached);
        }
        tracing::info!("Authenticated with the SAT download service.");
        Ok(token)
    }

    /// Forgets the cached token (the next call authenticates again).
    pub fn drop_token(&self) {
        if let Ok(mut g) = self.token.lock() {
            *g = None;
        }
    }

    async fn current_token(&self, now: DateTime<Utc>) -> Result<String, ClientError> {
        let cached = self.token.lock().ok().and_then(|g| g.clone());
        match cached {
            Some(t) if now < t.valid_until => Ok(t.value),
            _ => Ok(self.authenticate(now).await?.value),
        }
    }

    /// Sends a signed call with the token, re-authenticating once if the token is refused.
    async fn call(
        &self,
        operation: &'static str,
        url: String,
        action: &str,
        body: String,
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, ClientError> {
        for attempt in 0..2 {
            let token = self.current_token(now).await?;
            match self
                .post(
                    operation,
                    url.clone(),
                    action,
                    body.clone(),
                    Some(&token),
                    now,
                )
                .await?
            {
                Raw::Ok(b) => return Ok(b),
                Raw::AuthRefused(fault) => {
                    tracing::info!(
                        operation,
                        attempt,
                        "The SAT refused the token; authenticating again."
                    );
                    self.drop_token();
                    if attempt == 1 {
                        return Err(ClientError::AuthRejected {
                            operation,
                            fault,
                            hint: self.skew_hint(),
                        });
                    }
                }
            }
        }
        Err(ClientError::Transient {
            operation,
            reason: "token refused".into(),
        })
    }

    /// Registers a query (`SolicitaDescargaEmitidos|Recibidos|Folio`).
    #[tracing::instrument(skip_all, fields(connector = "sat", operation = q.operation()))]
    pub async fn query(&self, now: DateTime<Utc>, q: &Query) -> Result<QueryResult, ClientError> {
        let body = envelope::query(&self.fiel, q)?;
        let url = format!("{}{PATH_QUERY}", self.endpoints.request_base_url);
        let action = format!("{ACTION_QUERY_PREFIX}{}", q.operation());
        let bytes = self
            .call("SolicitaDescarga", url, &action, body, now)
            .await?;
        response::parse_query(&bytes).map_err(ClientError::Malformed)
    }

    /// Asks for the state of a request.
    #[tracing::instrument(skip_all, fields(connector = "sat"))]
    pub async fn verify(
        &self,
        now: DateTime<Utc>,
        request_id: &str,
    ) -> Result<VerifyResult, ClientError> {
        let body = envelope::verify(&self.fiel, request_id)?;
        let url = format!("{}{PATH_VERIFY}", self.endpoints.request_base_url);
        let bytes = self
            .call("VerificaSolicitudDescarga", url, ACTION_VERIFY, body, now)
            .await?;
        response::parse_verify(&bytes).map_err(ClientError::Malformed)
    }

    /// Downloads one package.
    #[tracing::instrument(skip_all, fields(connector = "sat"))]
    pub async fn download(
        &self,
        now: DateTime<Utc>,
        package_id: &str,
    ) -> Result<DownloadResult, ClientError> {
        let body = envelope::download(&self.fiel, package_id)?;
        let url = format!("{}{PATH_DOWNLOAD}", self.endpoints.download_base_url);
        let bytes = self
            .call("Descargar", url, ACTION_DOWNLOAD, body, now)
            .await?;
        response::parse_download(&bytes).map_err(ClientError::Malformed)
    }
}
