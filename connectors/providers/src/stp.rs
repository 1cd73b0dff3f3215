//! STP webhooks: incoming SPEI transfers (*abono*) and state changes of our outgoing orders (*cambio de estado*).
//!
//! **Abono.** Accepted shapes: STP's camelCase JSON, the same wrapped as `{"abono": {…}}`, the legacy PascalCase
//! JSON (`Clave`, `Monto`, …) and the legacy `<abono>` XML. Numbers may arrive as strings and vice versa; `monto`
//! is read exactly from its literal text. The record is a `Spei` payment: id `<claveRastreo>/<fechaOperacion
//! YYYYMMDD>`, booked on the SPEI operation date, value date from `tsLiquidacion`, our account from
//! `cuentaBeneficiario`, payer name/CLABE/RFC (`ND` dropped), referencia numérica, concepto; `document_id` = STP's id.
//! The answer is the one STP expects: HTTP 200 `{"mensaje":"confirmar"}` when `cuentaBeneficiario` (or
//! `cuentaBeneficiario2`) is one of `CompanyContext::own_accounts` (every account when that set is empty), else
//! HTTP 400 `{"mensaje":"devolver","id":<causa>}` (causa `devolver_code`, default 1 = cuenta inexistente) and
//! nothing is stored: STP returns the money. Delivery: kind `stp`, id `abono:<STP id>` (or
//! `abono:<claveRastreo>:<fecha>` without one).
//!
//! **Cambio de estado.** Recorded as a delivery of kind `stp-estado` with no records (the daemon reads it with
//! [`parse_estado`] to move its outgoing order); id `estado:<id>:<state>` so that a `returned` after a `settled`
//! is a new delivery and a repeat is not. Answered 200 `{"mensaje":"recibido"}`.

use crate::common::{answer, payment, store};
use crate::json::{self, scalar_text};
use crate::stp_auth::StpAuth;
use async_trait::async_trait;
use chrono::NaiveDate;
use chrono_tz::Tz;
use cuadra_sdk::{
    mask, parse_decimal, CompanyContext, Currency, Money, PaymentKind, PaymentRecord, Record,
    VerifiedRequest, WebhookError, WebhookHandler, WebhookOutcome, WebhookRequest,
};
use serde_json::{Map, Value};

/// Receives STP abono and cambio de estado webhooks.
pub struct StpHandler {
    pub(crate) auth: StpAuth,
    pub(crate) devolver_code: u32,
    pub(crate) tz: Tz,
}

impl std::fmt::Debug for StpHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StpHandler(devolver {})", self.devolver_code)
    }
}

/// What a cambio de estado says happened to an outgoing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderState {
    Settled,
    Returned,
    Failed,
    /// A value not in the known set: hold and query STP.
    Unknown,
}

impl OrderState {
    pub fn as_str(&self) -> &'static str {
        match self {
            OrderState::Settled => "settled",
            OrderState::Returned => "returned",
            OrderState::Failed => "failed",
            OrderState::Unknown => "unknown",
        }
    }

    /// Normalises STP's spellings (case and accents ignored).
    pub fn from_stp(estado: &str) -> OrderState {
        let folded: String = estado
            .trim()
            .to_lowercase()
            .chars()
            .map(|c| match c {
                'á' => 'a',
                'é' => 'e',
                'í' => 'i',
                'ó' => 'o',
                'ú' => 'u',
                c => c,
            })
            .collect();
        match folded.as_str() {
            "success" | "liquidacion" | "liquidado" | "liquidada" | "exito" | "lq" => {
                OrderState::Settled
            }
            "refund" | "devolucion" | "devuelto" | "devuelta" | "d" => OrderState::Returned,
            "cancel" | "cancelacion" | "cancelado" | "cancelada" | "cn" | "decline" => {
                OrderState::Failed
            }
            _ => OrderState::Unknown,
        }
    }
}

/// A parsed cambio de estado.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderStatus {
    /// The id `registraOrden` returned.
    pub id: String,
    pub empresa: Option<String>,
    /// Our own reference, when we sent one.
    pub folio_origen: Option<String>,
    /// `estado` as written.
    pub estado: String,
    pub state: OrderState,
    /// `causaDevolucion` (or legacy `Detalle`) as written; objects kept as JSON text.
    pub causa_devolucion: Option<String>,
    /// Settlement instant in Unix milliseconds.
    pub ts_liquidacion: Option<i64>,
}

enum Payload {
    /// The abono object and, for JSON, its exact text (for `monto`).
    Abono(Value, Option<String>),
    Estado(Value),
}

/// Reads a body as a flat object (JSON, or legacy XML with text-only children).
fn classify(body: &[u8]) -> Result<Payload, WebhookError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let (root, obj) = if first == Some(b'<') {
        let (root, map) = flat_xml(body)?;
        (Some(root), Value::Object(map))
    } else {
        (None, json::parse_object(body, "STP webhook")?)
    };
    let text = || String::from_utf8_lossy(body).into_owned();
    if let Some(inner @ Value::Object(_)) = get_ci(&obj, "abono") {
        let raw = json::raw_at(&text(), &["abono"], true).map(|r| r.get().to_string());
        return Ok(Payload::Abono(inner.clone(), raw));
    }
    match root.as_deref() {
        Some("abono") => return Ok(Payload::Abono(obj, None)),
        Some("estado") => return Ok(Payload::Estado(obj)),
        Some(other) => {
            return Err(WebhookError::Malformed(format!(
                "STP XML root <{other}>: expected <abono> or <estado>"
            )))
        }
        None => {}
    }
    if get_ci(&obj, "claveRastreo").is_some() || get_ci(&obj, "monto").is_some() {
        Ok(Payload::Abono(obj, Some(text())))
    } else if get_ci(&obj, "estado").is_some() {
        Ok(Payload::Estado(obj))
    } else {
        Err(WebhookError::Malformed(
            "STP webhook: expected an abono (claveRastreo, monto) or a cambio de estado (id, estado)".into(),
        ))
    }
}

/// A member by name, ignoring ASCII case (camelCase and PascalCase senders).
fn get_ci<'a>(obj: &'a Value, key: &str) -> Option<&'a Value> {
    let map = obj.as_object()?;
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn field(obj: &Value, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|k| get_ci(obj, k).and_then(scalar_text))
}

/// Drops STP's placeholders for "no data".
fn meaningful(s: Option<String>) -> Option<String> {
    s.filter(|v| {
        !v.eq_ignore_ascii_case("nd") && !v.eq_ignore_ascii_case("null") && !v.trim().is_empty()
    })
}

fn flat_xml(body: &[u8]) -> Result<(String, Map<String, Value>), WebhookError> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut root: Option<String> = None;
    let mut current: Option<String> = None;
    let mut map = Map::new();
    let mut buf = Vec::new();
    loop {
        let ev = reader.read_event_into(&mut buf).map_err(|e| {
            WebhookError::Malformed(format!("STP XML at byte {}: {e}", reader.buffer_position()))
        })?;
        match ev {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if root.is_none() {
                    root = Some(name);
                } else {
                    current = Some(name);
                }
            }
            Event::Text(t) => {
                if let Some(name) = &current {
                    let v = t.unescape().map_err(|e| {
                        WebhookError::Malformed(format!("STP XML element <{name}>: {e}"))
                    })?;
                    map.insert(name.clone(), Value::String(v.trim().to_string()));
                }
            }
            Event::End(_) => current = None,
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    let root = root.ok_or_else(|| WebhookError::Malformed("STP XML: no root element".into()))?;
    Ok((root, map))
}

/// Parses a cambio de estado body (JSON or legacy XML).
pub fn parse_estado(body: &[u8]) -> Result<OrderStatus, WebhookError> {
    match classify(body)? {
        Payload::Estado(obj) => estado_from(&obj),
        Payload::Abono(..) => Err(WebhookError::Malformed(
            "STP webhook: this is an abono, not a cambio de estado".into(),
        )),
    }
}

fn estado_from(obj: &Value) -> Result<OrderStatus, WebhookError> {
    let id = field(obj, &["id"])
        .ok_or_else(|| WebhookError::Malformed("field id: expected the STP order id".into()))?;
    let estado = field(obj, &["estado"])
        .ok_or_else(|| WebhookError::Malformed("field estado: expected the order state".into()))?;
    let causa = match get_ci(obj, "causaDevolucion").or_else(|| get_ci(obj, "detalle")) {
        Some(v @ Value::Object(_)) => Some(v.to_string()),
        Some(v) => scalar_text(v),
        None => None,
    };
    Ok(OrderStatus {
        state: OrderState::from_stp(&estado),
        id,
        empresa: field(obj, &["empresa"]),
        folio_origen: field(obj, &["folioOrigen"]),
        estado,
        causa_devolucion: causa,
        ts_liquidacion: field(obj, &["tsLiquidacion"]).and_then(|t| t.parse().ok()),
    })
}

fn fecha(obj: &Value) -> Result<NaiveDate, WebhookError> {
    let s = field(obj, &["fechaOperacion"]).ok_or_else(|| {
        WebhookError::Malformed("field fechaOperacion: expected a date YYYYMMDD".into())
    })?;
    NaiveDate::parse_from_str(&s, "%Y%m%d")
        .or_else(|_| NaiveDate::parse_from_str(&s, "%Y-%m-%d"))
        .map_err(|_| {
            WebhookError::Malformed(format!(
                "field fechaOperacion: expected a date YYYYMMDD, found {s:?}"
            ))
        })
}

/// Maps an abono object to its `Spei` payment record; `raw` is the object's JSON text, from which `monto` is read
/// exactly (without it, `monto` must be a string, as in XML).
pub fn map_abono(obj: &Value, raw: Option<&str>, tz: Tz) -> Result<PaymentRecord, WebhookError> {
    let clave = field(obj, &["claveRastreo"]).ok_or_else(|| {
        WebhookError::Malformed("field claveRastreo: expected the clave de rastreo".into())
    })?;
    let date = fecha(obj)?;
    let amount = match (raw, get_ci(obj, "monto")) {
        (_, None) => {
            return Err(WebhookError::Malformed(
                "field monto: expected the amount".into(),
            ))
        }
        (_, Some(Value::String(s))) => Some(
            parse_decimal(s).map_err(|e| WebhookError::Malformed(format!("field monto: {e}")))?,
        ),
        (Some(raw), Some(_)) => Some(json::decimal_at(raw, &["monto"], true)?),
        (None, Some(_)) => {
            return Err(WebhookError::Malformed(
                "field monto: expected a decimal amount".into(),
            ))
        }
    };
    let amount = amount
        .filter(|d| d.is_sign_positive() && !d.is_zero())
        .ok_or_else(|| WebhookError::Malformed("field monto: expected a positive amount".into()))?;
    let mut p = payment(
        PaymentKind::Spei,
        format!("{clave}/{}", date.format("%Y%m%d")),
        date,
        Money::new(amount, Currency::MXN),
    );
    p.clave_rastreo = Some(clave);
    p.own_account = field(obj, &["cuentaBeneficiario"]);
    p.payer_name = meaningful(field(obj, &["nombreOrdenante"]));
    p.payer_account = meaningful(field(obj, &["cuentaOrdenante"]));
    p.payer_rfc = meaningful(field(obj, &["rfcCurpOrdenante"]));
    p.referencia_numerica = meaningful(field(obj, &["referenciaNumerica"]));
    p.concepto = meaningful(field(obj, &["conceptoPago"]));
    p.document_id = field(obj, &["id", "clave"]);
    p.value_date = field(obj, &["tsLiquidacion"])
        .and_then(|t| t.parse::<i64>().ok())
        .and_then(|ms| json::date_from_unix(ms.div_euclid(1000), tz));
    p.status = Some("received".into());
    Ok(p)
}

fn is_ours(ctx: &CompanyContext, obj: &Value) -> bool {
    if ctx.own_accounts.is_empty() {
        return true;
    }
    ["cuentaBeneficiario", "cuentaBeneficiario2"]
        .iter()
        .any(|k| {
            field(obj, &[k]).is_some_and(|acct| {
                let acct: String = acct
                    .chars()
                    .filter(|c| !c.is_whitespace() && *c != '-')
                    .collect();
                ctx.own_accounts.contains(&acct)
            })
        })
}

#[async_trait]
impl WebhookHandler for StpHandler {
    fn verify(&self, req: &WebhookRequest<'_>) -> Result<VerifiedRequest, WebhookError> {
        self.auth.check(req)?;
        Ok(VerifiedRequest::after_verification(req))
    }

    async fn handle(
        &self,
        ctx: &CompanyContext,
        req: &VerifiedRequest,
    ) -> Result<WebhookOutcome, WebhookError> {
        match classify(req.body())? {
            Payload::Estado(obj) => {
                let st = estado_from(&obj)?;
                let id = format!("estado:{}:{}", st.id, st.state.as_str());
                Ok(store(
                    req,
                    "stp-estado",
                    id,
                    Vec::new(),
                    r#"{"mensaje":"recibido"}"#,
                ))
            }
            Payload::Abono(obj, raw) => {
                let p = map_abono(&obj, raw.as_deref(), self.tz)?;
                if !is_ours(ctx, &obj) {
                    let acct = p.own_account.as_deref().map(mask).unwrap_or_default();
                    tracing::info!(account = %acct, "STP abono to an account that is not ours: answered devolver");
                    let body = format!(r#"{{"mensaje":"devolver","id":{}}}"#, self.devolver_code);
                    return Ok(answer(400, &body));
                }
                let delivery_id = match &p.document_id {
                    Some(stp_id) => format!("abono:{stp_id}"),
                    None => format!("abono:{}", p.external_id.replace('/', ":")),
                };
                Ok(store(
                    req,
                    "stp",
                    delivery_id,
                    vec![Record::Payment(p)],
                    r#"{"mensaje":"confirmar"}"#,
                ))
            }
        }
    }
}
