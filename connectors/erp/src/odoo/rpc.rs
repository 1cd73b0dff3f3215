//! A small Odoo JSON-RPC client: `common.login` once (the uid is cached), then `object.execute_kw` with the API
//! key as password; Odoo's error payloads are classified into [`Failure`]s.
//!
//! | Odoo error | class |
//! |---|---|
//! | login answered `false`, `AccessDenied`, `AccessError` | config (permanent until fixed) |
//! | `ValidationError`, `UserError`, `MissingError`, other `odoo.exceptions.*` | permanent |
//! | unknown model or method, bad arguments (`KeyError`, `AttributeError`, `ValueError`, `TypeError`) | permanent |
//! | session expired (code 100) | retryable (the uid is dropped and login runs again) |
//! | database errors (`psycopg2.*`: serialization failures, locks) and anything else | retryable |
//! | HTTP 429, 503 with `Retry-After` | rate limited; 408/5xx, timeouts, connection errors: retryable |

use crate::net::{self, Failure, RateLimiter};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::{to_raw_value, RawValue};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Mutex;

pub struct OdooClient {
    endpoint: String,
    database: String,
    username: String,
    api_key: SecretString,
    client: reqwest::Client,
    limiter: RateLimiter,
    uid: Mutex<Option<i64>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for OdooClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OdooClient")
            .field("endpoint", &self.endpoint)
            .field("database", &self.database)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Request<'a> {
    jsonrpc: &'static str,
    method: &'static str,
    params: Params<'a>,
    id: u64,
}

#[derive(Serialize)]
struct Params<'a> {
    service: &'a str,
    method: &'a str,
    args: &'a RawValue,
}

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    result: Option<Box<RawValue>>,
    #[serde(default)]
    error: Option<RpcError>,
}

#[derive(Deserialize)]
struct RpcError {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    data: Option<RpcErrorData>,
}

#[derive(Deserialize)]
struct RpcErrorData {
    #[serde(default)]
    name: String,
    #[serde(default)]
    message: String,
}

fn raw<T: Serialize + ?Sized>(v: &T) -> Result<Box<RawValue>, Failure> {
    to_raw_value(v).map_err(|e| Failure::Permanent(format!("cannot encode a JSON-RPC call: {e}")))
}

/// Classifies an Odoo error payload; `what` names the call.
fn classify(err: RpcError, what: &str) -> Failure {
    let (name, detail) = match err.data {
        Some(d) => (
            d.name,
            if d.message.is_empty() {
                err.message.clone()
            } else {
                d.message
            },
        ),
        None => (String::new(), err.message.clone()),
    };
    let short = name.rsplit('.').next().unwrap_or_default();
    let msg = format!("{what}: Odoo {short}: {}", detail.trim());
    if err.code == 100 {
        return Failure::Retryable(format!("{what}: Odoo session expired"));
    }
    match short {
        "AccessDenied" | "AccessError" => Failure::Config(msg),
        "KeyError" | "AttributeError" | "ValueError" | "TypeError" => Failure::Permanent(msg),
        _ if name.starts_with("odoo.exceptions.") => Failure::Permanent(msg),
        _ => Failure::Retryable(msg),
    }
}

impl OdooClient {
    pub fn new(
        url: &str,
        database: String,
        username: String,
        api_key: SecretString,
        timeout_secs: u64,
        rate_per_sec: Option<f64>,
    ) -> Result<OdooClient, String> {
        let base = url.trim().trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!(
                "url: expected http(s)://host[:port], found {}",
                crate::json::preview(base)
            ));
        }
        Ok(OdooClient {
            endpoint: format!("{base}/jsonrpc"),
            database,
            username,
            api_key,
            client: net::client(timeout_secs)?,
            limiter: RateLimiter::new(rate_per_sec)?,
            uid: Mutex::new(None),
            next_id: AtomicU64::new(1),
        })
    }

    async fn call(
        &self,
        service: &str,
        method: &str,
        args: &RawValue,
        what: &str,
    ) -> Result<Box<RawValue>, Failure> {
        let req = Request {
            jsonrpc: "2.0",
            method: "call",
            params: Params {
                service,
                method,
                args,
            },
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
        };
        self.limiter.acquire().await;
        let resp = self
            .client
            .post(&self.endpoint)
            .json(&req)
            .send()
            .await
            .map_err(|e| Failure::from_reqwest(&e, what))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(Failure::from_status(status, resp.headers(), what));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| Failure::from_reqwest(&e, what))?;
        // A 200 that is not JSON-RPC is usually a proxy or maintenance page: try again later.
        let parsed: Response = serde_json::from_slice(&body)
            .map_err(|e| Failure::Retryable(format!("{what}: not a JSON-RPC response: {e}")))?;
        if let Some(err) = parsed.error {
            if err.code == 100 {
                *self.uid.lock().await = None;
            }
            return Err(classify(err, what));
        }
        // Methods returning None answer `"result": null`, which serde reads as absent.
        match parsed.result {
            Some(r) => Ok(r),
            None => RawValue::from_string("null".into())
                .map_err(|e| Failure::Permanent(format!("{what}: {e}"))),
        }
    }

    /// Logs in once and caches the uid.
    pub async fn uid(&self) -> Result<i64, Failure> {
        let mut guard = self.uid.lock().await;
        if let Some(uid) = *guard {
            return Ok(uid);
        }
        let args = raw(&(&self.database, &self.username, self.api_key.expose_secret()))?;
        let result = self.call("common", "login", &args, "common.login").await?;
        let uid = match serde_json::from_str::<serde_json::Value>(result.get()) {
            Ok(serde_json::Value::Number(n)) => n.as_i64(),
            _ => None,
        };
        let Some(uid) = uid else {
            return Err(Failure::Config(format!(
                "Odoo login failed for user {:?} on database {:?} (check username, api_key, database)",
                self.username, self.database
            )));
        };
        *guard = Some(uid);
        Ok(uid)
    }

    /// `execute_kw(model, method, args, kwargs)`, the result decoded as `T`.
    pub async fn execute_kw<T: DeserializeOwned>(
        &self,
        model: &str,
        method: &str,
        args: &RawValue,
        kwargs: &RawValue,
    ) -> Result<T, Failure> {
        let uid = self.uid().await?;
        let what = format!("{model}.{method}");
        let all = raw(&(
            &self.database,
            uid,
            self.api_key.expose_secret(),
            model,
            method,
            args,
            kwargs,
        ))?;
        let result = self.call("object", "execute_kw", &all, &what).await?;
        serde_json::from_str(result.get())
            .map_err(|e| Failure::Permanent(format!("{what}: unexpected result shape: {e}")))
    }

    /// `execute_kw` with serializable arguments.
    pub async fn exec<T: DeserializeOwned, A: Serialize + ?Sized, K: Serialize + ?Sized>(
        &self,
        model: &str,
        method: &str,
        args: &A,
        kwargs: &K,
    ) -> Result<T, Failure> {
        self.execute_kw(model, method, &raw(args)?, &raw(kwargs)?)
            .await
    }

    /// The field names a model has (`fields_get`), to adapt to the Odoo version and installed modules.
    pub async fn field_names(&self, model: &str) -> Result<Vec<String>, Failure> {
        let fields: serde_json::Map<String, serde_json::Value> = self
            .exec(
                model,
                "fields_get",
                &serde_json::json!([]),
                &serde_json::json!({"attributes": ["type"]}),
            )
            .await?;
        Ok(fields.into_iter().map(|(k, _)| k).collect())
    }
}
