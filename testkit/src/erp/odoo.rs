//! `FakeOdoo`: an Odoo JSON-RPC server (`POST /jsonrpc`) holding partners, moves, journals and payments in
//! memory. It answers `common.login`/`version` and `object.execute_kw` with `search_read`, `search`, `read`,
//! `create`, `write`, `fields_get`, the payment-registration wizard and payment draft/cancel, with Odoo's error
//! payloads; outages can be scripted and every call is logged.

use super::domain::Row;
use super::odoo_models as models;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub const DATABASE: &str = "cuadra";
pub const USERNAME: &str = "integration@example.com";
pub const API_KEY: &str = "0dd0-test-api-key";
pub const UID: i64 = 7;

/// A scripted failure for the next call.
#[derive(Debug, Clone)]
pub enum Outage {
    /// Answer this HTTP status (e.g. 503, 502).
    Status(u16),
    /// 429 with `Retry-After: secs`.
    RateLimited(u64),
    /// 503 with `Retry-After: secs`.
    Unavailable(u64),
    /// Sleep this long before answering normally (a client timeout when longer than its timeout).
    Delay(Duration),
}

/// One logged call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub service: String,
    pub method: String,
    /// For `execute_kw`: model and method.
    pub model: Option<String>,
    pub model_method: Option<String>,
}

#[derive(Debug)]
pub struct OdooState {
    /// 16, 17 or 18: decides the payment memo field (`ref` before 18, `memo` from 18) and cancelled state name.
    pub version: u32,
    /// Whether `l10n_mx_edi` is installed (the move has `l10n_mx_edi_cfdi_uuid`).
    pub l10n_mx: bool,
    pub api_key: String,
    pub models: BTreeMap<String, Vec<Row>>,
    pub calls: Vec<Call>,
    pub script: VecDeque<Outage>,
    next_id: i64,
    tick: i64,
}

impl OdooState {
    fn new() -> OdooState {
        let mut models = BTreeMap::new();
        for m in models::MODELS {
            models.insert((*m).to_string(), Vec::new());
        }
        OdooState {
            version: 17,
            l10n_mx: true,
            api_key: API_KEY.into(),
            models,
            calls: Vec::new(),
            script: VecDeque::new(),
            next_id: 1,
            tick: 0,
        }
    }

    /// The next `write_date`: five writes share each second, so paging must break ties by id.
    pub fn stamp(&mut self) -> String {
        let t = self.tick;
        self.tick += 1;
        let secs = t / 5;
        format!(
            "2024-06-01 {:02}:{:02}:{:02}",
            10 + secs / 3600,
            (secs / 60) % 60,
            secs % 60
        )
    }

    pub fn insert(&mut self, model: &str, mut row: Row) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        row.insert("id".into(), json!(id));
        let stamp = self.stamp();
        row.insert("write_date".into(), json!(stamp));
        self.models.entry(model.to_string()).or_default().push(row);
        id
    }

    pub fn row(&self, model: &str, id: i64) -> Option<&Row> {
        self.models
            .get(model)?
            .iter()
            .find(|r| r.get("id").and_then(Value::as_i64) == Some(id))
    }

    pub fn row_mut(&mut self, model: &str, id: i64) -> Option<&mut Row> {
        self.models
            .get_mut(model)?
            .iter_mut()
            .find(|r| r.get("id").and_then(Value::as_i64) == Some(id))
    }

    pub fn memo_field(&self) -> &'static str {
        if self.version >= 18 {
            "memo"
        } else {
            "ref"
        }
    }

    pub fn cancel_state(&self) -> &'static str {
        if self.version >= 18 {
            "canceled"
        } else {
            "cancel"
        }
    }
}

/// An Odoo error as the JSON-RPC layer reports it.
#[derive(Debug)]
pub struct OdooError {
    pub name: &'static str,
    pub message: String,
}

impl OdooError {
    pub fn new(name: &'static str, message: impl Into<String>) -> OdooError {
        OdooError {
            name,
            message: message.into(),
        }
    }
}

type Shared = Arc<Mutex<OdooState>>;

fn lock(s: &Shared) -> MutexGuard<'_, OdooState> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// The running fake; stops when dropped.
pub struct FakeOdoo {
    addr: SocketAddr,
    state: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeOdoo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeOdoo {
    /// Starts on 127.0.0.1:0 (Odoo 17 with `l10n_mx_edi`, a bank journal `Bank`/`BNK1`).
    pub async fn start() -> std::io::Result<FakeOdoo> {
        let state: Shared = Arc::new(Mutex::new(OdooState::new()));
        {
            let mut s = lock(&state);
            let mut j = Row::new();
            j.insert("name".into(), json!("Bank"));
            j.insert("code".into(), json!("BNK1"));
            j.insert("type".into(), json!("bank"));
            s.insert("account.journal", j);
        }
        let app = axum::Router::new()
            .route("/jsonrpc", axum::routing::post(handle))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeOdoo { addr, state, task })
    }

    /// Base URL (`http://127.0.0.1:PORT`), the `url` setting.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Direct access to the state, for seeding and assertions.
    pub fn state(&self) -> MutexGuard<'_, OdooState> {
        lock(&self.state)
    }

    pub fn set_version(&self, version: u32) {
        self.state().version = version;
    }

    /// Adds a customer; returns its id.
    pub fn add_partner(&self, name: &str, vat: Option<&str>, email: Option<&str>) -> i64 {
        let mut r = Row::new();
        r.insert("name".into(), json!(name));
        r.insert("vat".into(), vat.map_or(json!(false), |v| json!(v)));
        r.insert("email".into(), email.map_or(json!(false), |v| json!(v)));
        for f in ["phone", "mobile", "ref"] {
            r.insert(f.into(), json!(false));
        }
        r.insert("lang".into(), json!("es_MX"));
        r.insert("customer_rank".into(), json!(1));
        self.state().insert("res.partner", r)
    }

    /// Adds a posted customer invoice; `total` is a decimal string. Returns its id.
    #[allow(clippy::too_many_arguments)]
    pub fn add_invoice(
        &self,
        partner: i64,
        name: &str,
        total: &str,
        currency: &str,
        date: &str,
        due: &str,
        uuid: Option<&str>,
    ) -> i64 {
        self.add_move(
            "out_invoice",
            partner,
            name,
            total,
            currency,
            date,
            due,
            uuid,
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub fn add_move(
        &self,
        move_type: &str,
        partner: i64,
        name: &str,
        total: &str,
        currency: &str,
        date: &str,
        due: &str,
        uuid: Option<&str>,
    ) -> i64 {
        let mut s = self.state();
        let pname = s
            .row("res.partner", partner)
            .and_then(|p| p.get("name").cloned())
            .unwrap_or(json!(""));
        let amount = models::number(total);
        let mut r = Row::new();
        r.insert("name".into(), json!(name));
        r.insert("move_type".into(), json!(move_type));
        r.insert("state".into(), json!("posted"));
        r.insert("partner_id".into(), json!([partner, pname]));
        r.insert("invoice_date".into(), json!(date));
        r.insert("invoice_date_due".into(), json!(due));
        r.insert("amount_total".into(), amount.clone());
        r.insert("amount_residual".into(), amount);
        let cur_id = if currency == "MXN" { 33 } else { 2 };
        r.insert("currency_id".into(), json!([cur_id, currency]));
        r.insert("payment_state".into(), json!("not_paid"));
        r.insert(
            "l10n_mx_edi_cfdi_uuid".into(),
            uuid.map_or(json!(false), |u| json!(u)),
        );
        s.insert("account.move", r)
    }

    /// The residual of a move, exactly.
    pub fn residual(&self, move_id: i64) -> Option<rust_decimal::Decimal> {
        self.state()
            .row("account.move", move_id)
            .and_then(|r| r.get("amount_residual"))
            .and_then(models::decimal)
    }

    pub fn payment_state(&self, move_id: i64) -> Option<String> {
        self.state()
            .row("account.move", move_id)
            .and_then(|r| r.get("payment_state"))
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    /// Every `account.payment` row.
    pub fn payments(&self) -> Vec<Row> {
        self.state()
            .models
            .get("account.payment")
            .cloned()
            .unwrap_or_default()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// Queues `n` copies of an outage for the next calls.
    pub fn fail_next(&self, n: usize, outage: Outage) {
        let mut s = self.state();
        for _ in 0..n {
            s.script.push_back(outage.clone());
        }
    }
}

fn rpc_result(id: &Value, result: Value) -> Response {
    axum::Json(json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response()
}

fn rpc_error(id: &Value, e: OdooError) -> Response {
    let body = json!({"jsonrpc": "2.0", "id": id, "error": {
        "code": 200, "message": "Odoo Server Error",
        "data": {"name": e.name, "debug": format!("Traceback (most recent call last):\n{}: {}", e.name, e.message),
                 "message": e.message, "arguments": [e.message], "context": {}}}});
    axum::Json(body).into_response()
}

async fn handle(State(state): State<Shared>, body: Bytes) -> Response {
    let outage = lock(&state).script.pop_front();
    match outage {
        Some(Outage::Status(code)) => {
            return StatusCode::from_u16(code)
                .unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
                .into_response();
        }
        Some(Outage::RateLimited(secs)) | Some(Outage::Unavailable(secs)) => {
            let code = if matches!(outage, Some(Outage::RateLimited(_))) {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            let mut r = code.into_response();
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                r.headers_mut().insert("retry-after", v);
            }
            return r;
        }
        Some(Outage::Delay(d)) => tokio::time::sleep(d).await,
        None => {}
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "Invalid JSON data").into_response();
    };
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let params = req.get("params").cloned().unwrap_or(Value::Null);
    let service = params
        .get("service")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let method = params
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let args = params
        .get("args")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut s = lock(&state);
    let (model, model_method) = if service == "object" {
        (
            args.get(3).and_then(Value::as_str).map(str::to_string),
            args.get(4).and_then(Value::as_str).map(str::to_string),
        )
    } else {
        (None, None)
    };
    s.calls.push(Call {
        service: service.clone(),
        method: method.clone(),
        model,
        model_method,
    });
    let out = match (service.as_str(), method.as_str()) {
        ("common", "version") => {
            Ok(json!({"server_version": format!("{}.0", s.version), "protocol_version": 1}))
        }
        ("common", "login") => {
            let ok = args.first() == Some(&json!(DATABASE))
                && args.get(1) == Some(&json!(USERNAME))
                && args.get(2) == Some(&json!(s.api_key));
            Ok(if ok { json!(UID) } else { json!(false) })
        }
        ("object", "execute_kw") => execute_kw(&mut s, &args),
        _ => Err(OdooError::new(
            "builtins.NameError",
            format!("service {service:?} has no method {method:?}"),
        )),
    };
    match out {
        Ok(v) => rpc_result(&id, v),
        Err(e) => rpc_error(&id, e),
    }
}

fn execute_kw(s: &mut OdooState, args: &[Value]) -> Result<Value, OdooError> {
    let ok = args.first() == Some(&json!(DATABASE))
        && args.get(1) == Some(&json!(UID))
        && args.get(2) == Some(&json!(s.api_key));
    if !ok {
        return Err(OdooError::new(
            "odoo.exceptions.AccessDenied",
            "Access Denied",
        ));
    }
    let model = args.get(3).and_then(Value::as_str).unwrap_or_default();
    let method = args.get(4).and_then(Value::as_str).unwrap_or_default();
    let pos = args
        .get(5)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let kw = args
        .get(6)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if !s.models.contains_key(model) {
        return Err(OdooError::new("builtins.KeyError", format!("'{model}'")));
    }
    models::dispatch(s, model, method, &pos, &kw)
}
