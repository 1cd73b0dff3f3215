//! A fake SAT Descarga Masiva service for tests: axum on `127.0.0.1:0`, the four real
//! service paths, real SOAP in and out. It checks every request's signature against the registered FIEL
//! certificate, checks tokens, remembers requests and packages like the real service (duplicate criteria while
//! active → 5005, a third CFDI request with the same criteria → 5002, three downloads of a package → 5008), and
//! can be scripted: token expiry mid-flow, no data, limit reached, forced codes, failing downloads, requests that
//! stay pending for N polls. Its clock is settable so it agrees with the connector's injected clock.

mod c14n;
mod templates;
mod verify;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Duration, Utc};
use cuadra_sat::cert;
use cuadra_sat::client::{PATH_AUTH, PATH_DOWNLOAD, PATH_QUERY, PATH_VERIFY};
use cuadra_sat::xml::{self, Element};
use rsa::RsaPublicKey;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// What the fake should do; change it between pulls with [`FakeSat::script`].
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Verify answers "in progress" this many times before a request finishes.
    pub pending_polls: u32,
    /// Finished requests find nothing (EstadoSolicitud 5, CodigoEstadoSolicitud 5004).
    pub no_data: bool,
    /// Packages per finished request.
    pub packages_per_request: u32,
    /// Forced `CodEstatus` for the next queries (e.g. 5002 limit reached, 5005 duplicate, 305).
    pub query_codes: VecDeque<u32>,
    /// Forced (EstadoSolicitud, CodigoEstadoSolicitud) for the next verifications.
    pub verify_states: VecDeque<(u32, u32)>,
    /// The next N downloads fail with HTTP 500.
    pub download_failures: u32,
    /// Every token stops working after this many uses (the service's expiry, seen mid-flow).
    pub token_uses: Option<u32>,
    /// Lifetime of a token by the SOAP timestamp.
    pub token_lifetime_secs: i64,
    /// The bytes served as every package (a ZIP in real life).
    pub package: Vec<u8>,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            pending_polls: 0,
            no_data: false,
            packages_per_request: 1,
            query_codes: VecDeque::new(),
            verify_states: VecDeque::new(),
            download_failures: 0,
            token_uses: None,
            token_lifetime_secs: 300,
            package: b"PK\x03\x04fake-sat-package".to_vec(),
        }
    }
}

/// One call the fake received (for assertions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// `Autentica`, `SolicitaDescargaEmitidos`, …, `VerificaSolicitudDescarga`, `Descargar`.
    pub operation: String,
    /// Query criteria (sorted attributes), request id or package id.
    pub subject: String,
    /// The code answered (HTTP status for faults).
    pub code: u32,
}

struct FakeRequest {
    criteria: String,
    polls: u32,
    finished: bool,
    packages: Vec<String>,
}

struct FakeState {
    scenario: Scenario,
    now: Option<DateTime<Utc>>,
    cert_der: Vec<u8>,
    key: RsaPublicKey,
    rfc: String,
    no_certificado: String,
    tokens: HashMap<String, (DateTime<Utc>, u32)>,
    requests: HashMap<String, FakeRequest>,
    criteria_counts: HashMap<String, u32>,
    downloads: HashMap<String, u32>,
    calls: Vec<Call>,
    counter: u64,
}

impl FakeState {
    fn now(&self) -> DateTime<Utc> {
        self.now.unwrap_or_else(Utc::now)
    }
    fn next_id(&mut self) -> String {
        self.counter += 1;
        format!("{:08x}-f4ce-4a5a-8000-{:012x}", self.counter, self.counter)
    }
    fn log(&mut self, operation: &str, subject: &str, code: u32) {
        self.calls.push(Call {
            operation: operation.into(),
            subject: subject.into(),
            code,
        });
    }
}

type Shared = Arc<Mutex<FakeState>>;

/// The running fake. Dropping it stops the server.
pub struct FakeSat {
    addr: SocketAddr,
    state: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeSat {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(s: &Shared) -> MutexGuard<'_, FakeState> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

impl FakeSat {
    /// Starts on `127.0.0.1:0`, accepting signatures of the FIEL whose certificate DER is given.
    pub async fn start(certificate_der: &[u8]) -> std::io::Result<FakeSat> {
        let bad = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
        let info = cert::parse(certificate_der).map_err(bad)?;
        let key = cert::public_key(certificate_der).map_err(bad)?;
        let state = Arc::new(Mutex::new(FakeState {
            scenario: Scenario::default(),
            now: None,
            cert_der: certificate_der.to_vec(),
            key,
            rfc: info.rfc,
            no_certificado: info.no_certificado,
            tokens: HashMap::new(),
            requests: HashMap::new(),
            criteria_counts: HashMap::new(),
            downloads: HashMap::new(),
            calls: Vec::new(),
            counter: 0,
        }));
        let app = Router::new()
            .route(PATH_AUTH, post(authenticate))
            .route(PATH_QUERY, post(query))
            .route(PATH_VERIFY, post(verify_request))
            .route(PATH_DOWNLOAD, post(download))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeSat { addr, state, task })
    }

    /// `http://127.0.0.1:PORT`: use it as both `request_base_url` and `download_base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets the service clock (default: the real clock).
    pub fn set_now(&self, now: DateTime<Utc>) {
        lock(&self.state).now = Some(now);
    }

    /// Changes the scenario.
    pub fn script(&self, f: impl FnOnce(&mut Scenario)) {
        f(&mut lock(&self.state).scenario);
    }

    /// Every call received so far.
    pub fn calls(&self) -> Vec<Call> {
        lock(&self.state).calls.clone()
    }

    /// Calls of one operation (`Autentica`, `SolicitaDescargaEmitidos`, `VerificaSolicitudDescarga`, `Descargar`).
    pub fn calls_of(&self, operation: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.operation == operation)
            .collect()
    }
}

/// Checks a signed request the way the fake does (Autentica timestamp signature, or the body signature), against
/// the certificate given. `now` is the service clock for the Autentica timestamp window.
pub fn verify_signed_request(
    body: &[u8],
    certificate_der: &[u8],
    now: DateTime<Utc>,
) -> Result<(), String> {
    let key = cert::public_key(certificate_der)?;
    let root = xml::parse(body)?;
    if root.find("Autentica").is_some() {
        verify::authenticate(&root, certificate_der, &key, now)
    } else {
        verify::body(&root, certificate_der, &key).map(|_| ())
    }
}

fn xml_response(status: StatusCode, now: DateTime<Utc>, body: String) -> Response {
    let date = now.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    (
        status,
        [
            (header::CONTENT_TYPE, "text/xml; charset=utf-8".to_string()),
            (header::DATE, date),
        ],
        body,
    )
        .into_response()
}

fn fault(st: &mut FakeState, operation: &str, status: StatusCode, why: &str) -> Response {
    st.log(operation, why, u32::from(status.as_u16()));
    xml_response(status, st.now(), templates::fault())
}

async fn authenticate(State(s): State<Shared>, body: Bytes) -> Response {
    let mut st = lock(&s);
    let now = st.now();
    let checked =
        xml::parse(&body).and_then(|root| verify::authenticate(&root, &st.cert_der, &st.key, now));
    if let Err(why) = checked {
        return fault(
            &mut st,
            "Autentica",
            StatusCode::INTERNAL_SERVER_ERROR,
            &why,
        );
    }
    st.counter += 1;
    let expires = now + Duration::seconds(st.scenario.token_lifetime_secs);
    let token = templates::token(&st.no_certificado, now, expires, st.counter);
    st.tokens.insert(token.clone(), (expires, 0));
    st.log("Autentica", "", 200);
    xml_response(
        StatusCode::OK,
        now,
        templates::authenticate(&token, now, expires),
    )
}

/// Token and signature checks shared by the three signed operations; returns the signed request element.
fn admit(
    st: &mut FakeState,
    headers: &HeaderMap,
    body: &[u8],
    operation: &str,
) -> Result<Element, Box<Response>> {
    let now = st.now();
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("WRAP access_token=\""))
        .and_then(|h| h.strip_suffix('"'))
        .unwrap_or_default()
        .to_string();
    let limit = st.scenario.token_uses;
    let valid = match st.tokens.get_mut(&token) {
        Some((expires, uses)) if *expires >= now && !matches!(limit, Some(l) if *uses >= l) => {
            *uses += 1;
            true
        }
        _ => false,
    };
    if !valid {
        return Err(Box::new(fault(
            st,
            operation,
            StatusCode::UNAUTHORIZED,
            "token invalid or expired",
        )));
    }
    let root = xml::parse(body)
        .map_err(|e| Box::new(fault(st, operation, StatusCode::BAD_REQUEST, &e)))?;
    match verify::body(&root, &st.cert_der, &st.key) {
        Ok(req) => Ok(req.clone()),
        Err(why) => Err(Box::new(fault(
            st,
            operation,
            StatusCode::INTERNAL_SERVER_ERROR,
            &why,
        ))),
    }
}

async fn query(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut st = lock(&s);
    let now = st.now();
    let operation = xml::parse(&body)
        .ok()
        .and_then(|r| {
            r.path(&["Body"])
                .and_then(|b| b.elements().next().map(|e| e.local_name().to_string()))
        })
        .unwrap_or_else(|| "SolicitaDescarga".into());
    let req = match admit(&mut st, &headers, &body, &operation) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let mut attrs: Vec<(String, String)> = req.attrs.clone();
    attrs.sort();
    let criteria = format!(
        "{operation}|{}",
        attrs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("|")
    );
    let rfc = st.rfc.clone();
    let (code, message, id) = if req.attr("RfcSolicitante") != Some(rfc.as_str()) {
        (303u32, "Sello no corresponde con RfcSolicitante", None)
    } else if let Some(code) = st.scenario.query_codes.pop_front() {
        let id = (code == 5000).then(|| st.next_id());
        (code, "Codigo forzado por el escenario", id)
    } else if st
        .requests
        .values()
        .any(|r| r.criteria == criteria && !r.finished)
    {
        (5005, "Ya se tiene una solicitud registrada", None)
    } else if req.attr("TipoSolicitud") == Some("CFDI")
        && st.criteria_counts.get(&criteria).copied().unwrap_or(0) >= 2
    {
        (5002, "Se han agotado las solicitudes de por vida", None)
    } else {
        (5000, "Solicitud Aceptada", Some(st.next_id()))
    };
    if let Some(id) = &id {
        *st.criteria_counts.entry(criteria.clone()).or_insert(0) += 1;
        st.requests.insert(
            id.clone(),
            FakeRequest {
                criteria: criteria.clone(),
                polls: 0,
                finished: false,
                packages: Vec::new(),
            },
        );
    }
    st.log(&operation, &criteria, code);
    xml_response(
        StatusCode::OK,
        now,
        templates::query(&operation, id.as_deref(), code, message, &rfc),
    )
}

async fn verify_request(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    const OP: &str = "VerificaSolicitudDescarga";
    let mut st = lock(&s);
    let now = st.now();
    let req = match admit(&mut st, &headers, &body, OP) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let id = req.attr("IdSolicitud").unwrap_or_default().to_string();
    let forced = st.scenario.verify_states.pop_front();
    let sc = st.scenario.clone();
    let Some(r) = st.requests.get_mut(&id) else {
        st.log(OP, &id, 5004);
        let a = templates::VerifyAnswer {
            code: 5004,
            state: 0,
            state_code: 0,
            count: 0,
            message: "No se encontró la información",
            packages: &[],
        };
        return xml_response(StatusCode::OK, now, templates::verify(&a));
    };
    r.polls += 1;
    let (state, state_code) = if let Some(f) = forced {
        f
    } else if r.polls <= sc.pending_polls {
        (if r.polls == 1 { 1 } else { 2 }, 5000)
    } else if sc.no_data {
        (5, 5004)
    } else {
        (3, 5000)
    };
    if state >= 3 {
        r.finished = true;
    }
    if state == 3 && r.packages.is_empty() {
        r.packages = (1..=sc.packages_per_request)
            .map(|n| format!("{}_{n:02}", id.to_uppercase()))
            .collect();
    }
    let packages = if state == 3 {
        r.packages.clone()
    } else {
        Vec::new()
    };
    let count = if state == 3 { 12 } else { 0 };
    st.log(OP, &id, state_code);
    let a = templates::VerifyAnswer {
        code: 5000,
        state,
        state_code,
        count,
        message: "Solicitud Aceptada",
        packages: &packages,
    };
    xml_response(StatusCode::OK, now, templates::verify(&a))
}

async fn download(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    const OP: &str = "Descargar";
    let mut st = lock(&s);
    let now = st.now();
    let req = match admit(&mut st, &headers, &body, OP) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let id = req.attr("IdPaquete").unwrap_or_default().to_string();
    if st.scenario.download_failures > 0 {
        st.scenario.download_failures -= 1;
        st.log(OP, &id, 500);
        return xml_response(StatusCode::INTERNAL_SERVER_ERROR, now, String::new());
    }
    let known = st.requests.values().any(|r| r.packages.contains(&id));
    let count = st.downloads.entry(id.clone()).or_insert(0);
    let (code, message, package) = if !known {
        (5004, "No se encontró la información", Vec::new())
    } else if *count >= 2 {
        (5008, "Maximo de descargas permitidas.", Vec::new())
    } else {
        *count += 1;
        (5000, "Solicitud Aceptada", st.scenario.package.clone())
    };
    st.log(OP, &id, code);
    xml_response(
        StatusCode::OK,
        now,
        templates::download(code, message, &package),
    )
}
