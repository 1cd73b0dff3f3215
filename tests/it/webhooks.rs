//! Payment-provider and STP webhooks through the daemon's `POST /webhooks/{connector}`, on each backend: a signed
//! delivery is stored and answered 2xx, a repeat is acknowledged and changes nothing, and a bad signature (401),
//! signed garbage (400), an oversized body (413) or an unknown connector (404) store nothing. Openpay and Mercado
//! Pago confirm against a fake provider API served over real HTTP. A durability test kills the real binary with
//! SIGKILL right after its 2xx and finds the payment after a restart. With `../shared/fixtures/bank/webhooks`
//! present, the real payloads are replayed (re-signed with the test secrets).
//!
//! Longer than our ~600 lines on purpose: one capability's suite, whose cases share the fixtures built here.

use super::helpers::{backends, fresh_db, test_settings, Backend, TestApp};
use axum::http::{StatusCode, Uri};
use axum::Router;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub const STRIPE_SECRET: &str = "whsec_cuadra_test_secret";
const MP_SECRET: &str = "mp_cuadra_secret";
pub(super) const OURS: &str = "646180157099999991";
const FOREIGN: &str = "646180157011111112";

/// HMAC-SHA256 (RFC 2104) over sha2, so the tests need no other crate.
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A `Stripe-Signature` header for `body` signed now.
pub fn stripe_signature(secret: &str, body: &[u8]) -> String {
    let t = unix_now().to_string();
    let msg = [t.as_bytes(), b".", body].concat();
    format!(
        "t={t},v1={}",
        hex::encode(hmac_sha256(secret.as_bytes(), &msg))
    )
}

/// A `payment_intent.succeeded` event of `centavos` MXN.
pub fn stripe_event(event: &str, intent: &str, centavos: i64) -> Vec<u8> {
    serde_json::json!({
        "id": event, "object": "event", "type": "payment_intent.succeeded", "created": unix_now(),
        "data": {"object": {"id": intent, "object": "payment_intent", "amount": centavos,
            "amount_received": centavos, "currency": "mxn", "status": "succeeded",
            "metadata": {"invoice_uuid": "6d7434a6-e3f2-47ad-9e4c-08849946afa0"}}}
    })
    .to_string()
    .into_bytes()
}

fn mp_signature(data_id: &str, request_id: &str) -> String {
    let ts = unix_now();
    let manifest = format!("id:{data_id};request-id:{request_id};ts:{ts};");
    format!(
        "ts={ts},v1={}",
        hex::encode(hmac_sha256(MP_SECRET.as_bytes(), manifest.as_bytes()))
    )
}

/// Signs `body` with the test Conekta private key (RSASSA-PKCS1-v1_5 / SHA-256, base64), as Conekta's `digest`.
fn conekta_digest(key: &Path, body: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl");
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl dgst -sign");
    base64(&out.stdout)
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// A throwaway RSA key pair made with openssl: (private key path, public key PEM path).
fn conekta_keys(dir: &Path) -> (PathBuf, PathBuf) {
    let key = dir.join("conekta_private.pem");
    let public = dir.join("conekta_public.pem");
    let ok = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&key)
        .status()
        .expect("openssl genpkey")
        .success();
    assert!(ok, "openssl genpkey");
    let ok = std::process::Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(&public)
        .status()
        .expect("openssl pkey")
        .success();
    assert!(ok, "openssl pkey -pubout");
    (key, public)
}

/// A fake provider API on 127.0.0.1:0: `GET path` answers the JSON registered for that path, else 404.
#[derive(Clone)]
struct FakeApi {
    base: String,
    routes: Arc<Mutex<HashMap<String, String>>>,
}

impl FakeApi {
    async fn start() -> FakeApi {
        let routes: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let r = routes.clone();
        let app = Router::new().fallback(move |uri: Uri| {
            let r = r.clone();
            async move {
                match r.lock().unwrap().get(uri.path()) {
                    Some(body) => (
                        StatusCode::OK,
                        [("content-type", "application/json")],
                        body.clone(),
                    ),
                    None => (
                        StatusCode::NOT_FOUND,
                        [("content-type", "application/json")],
                        r#"{"message":"not found"}"#.to_string(),
                    ),
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeApi { base, routes }
    }

    fn answer(&self, path: &str, body: &str) {
        self.routes
            .lock()
            .unwrap()
            .insert(path.to_string(), body.to_string());
    }
}

pub(super) struct Hooks {
    pub(super) t: TestApp,
    api: FakeApi,
    conekta_key: PathBuf,
    client: reqwest::Client,
}

/// The daemon with one connector of each kind, the fake API, and a fresh Conekta key pair.
pub(super) async fn spawn_hooks(b: Backend, extra: &str) -> Hooks {
    let api = FakeApi::start().await;
    let db = fresh_db(b).await;
    let (conekta_key, conekta_pub) = conekta_keys(db.dir.path());
    let toml = format!(
        r#"[accounts.stp]
number = "{OURS}"
currency = "MXN"
[connectors.stripe]
kind = "stripe"
webhook_secret = "{STRIPE_SECRET}"
[connectors.conekta]
kind = "conekta"
public_key_file = "{pubkey}"
[connectors.openpay]
kind = "openpay"
webhook_user = "openpay"
webhook_secret = "openpay-hook-pass"
merchant_id = "mcuadra"
api_key = "sk_test_private"
api_base = "{api}"
timeout_secs = 5
[connectors.mercadopago]
kind = "mercadopago"
webhook_secret = "{MP_SECRET}"
api_key = "APP_USR-token"
api_base = "{api}"
[connectors.stp]
kind = "stp"
webhook_user = "stp"
webhook_secret = "stp-shared-secret"
[connectors.stp_local]
kind = "stp"
allowed_ips = ["127.0.0.1/32"]
[connectors.stp_far]
kind = "stp"
allowed_ips = ["203.0.113.0/24"]
{extra}"#,
        pubkey = conekta_pub.display(),
        api = api.base,
    );
    let app = cuadra::app::App::build(test_settings(&db, &toml))
        .await
        .expect("app");
    let running = cuadra::daemon::start(app.clone()).await.expect("start");
    let base = format!("http://{}", running.addr);
    Hooks {
        t: TestApp {
            app,
            running: Some(running),
            base,
            db,
        },
        api,
        conekta_key,
        client: reqwest::Client::new(),
    }
}

/// One webhook request: connector, query string, headers, body, and optional Basic credentials.
#[derive(Clone, Default)]
pub(super) struct Req {
    pub(super) connector: String,
    query: String,
    headers: Vec<(String, String)>,
    basic: Option<(String, String)>,
    pub(super) body: Vec<u8>,
}

impl Hooks {
    pub(super) async fn post(&self, r: &Req) -> (u16, String) {
        let mut url = format!("{}/webhooks/{}", self.t.base, r.connector);
        if !r.query.is_empty() {
            url = format!("{url}?{}", r.query);
        }
        let mut rb = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .body(r.body.clone());
        for (k, v) in &r.headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        if let Some((u, p)) = &r.basic {
            rb = rb.basic_auth(u, Some(p));
        }
        let resp = rb.send().await.expect("webhook request");
        let code = resp.status().as_u16();
        (code, resp.text().await.unwrap_or_default())
    }

    pub(super) async fn count(&self, table: &str) -> i64 {
        self.t.app.store.count(table).await.unwrap()
    }

    /// Raw deliveries other than rejected ones (kept for a person, see `conflicts.rs`).
    async fn stored_besides_rejected(&self) -> i64 {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM raw_inbox WHERE kind <> 'rejected'")
            .fetch_one(self.t.app.store.pool())
            .await
            .unwrap()
    }

    /// (kind, amount in micros, currency) of the payment with this external id.
    pub(super) async fn payment(&self, external_id: &str) -> Option<(String, i64, String)> {
        sqlx::query_as::<_, (String, i64, String)>(
            "SELECT kind, amount_micros, currency FROM payments WHERE external_id = $1",
        )
        .bind(external_id)
        .fetch_optional(self.t.app.store.pool())
        .await
        .unwrap()
    }

    pub(super) fn stripe(&self, body: Vec<u8>) -> Req {
        Req {
            connector: "stripe".into(),
            headers: vec![(
                "stripe-signature".into(),
                stripe_signature(STRIPE_SECRET, &body),
            )],
            body,
            ..Req::default()
        }
    }

    fn conekta(&self, body: Vec<u8>) -> Req {
        Req {
            connector: "conekta".into(),
            headers: vec![("digest".into(), conekta_digest(&self.conekta_key, &body))],
            body,
            ..Req::default()
        }
    }

    fn openpay(&self, body: Vec<u8>) -> Req {
        Req {
            connector: "openpay".into(),
            basic: Some(("openpay".into(), "openpay-hook-pass".into())),
            body,
            ..Req::default()
        }
    }

    fn mercadopago(&self, data_id: &str, request_id: &str, body: Vec<u8>) -> Req {
        Req {
            connector: "mercadopago".into(),
            query: format!("data.id={data_id}&type=payment"),
            headers: vec![
                ("x-signature".into(), mp_signature(data_id, request_id)),
                ("x-request-id".into(), request_id.into()),
            ],
            body,
            ..Req::default()
        }
    }

    pub(super) fn stp(&self, body: Vec<u8>) -> Req {
        Req {
            connector: "stp".into(),
            basic: Some(("stp".into(), "stp-shared-secret".into())),
            body,
            ..Req::default()
        }
    }
}

const CONEKTA_ORDER: &str = r#"{"id":"evt_cuadra_0001","type":"order.paid","created_at":1768494000,"livemode":false,
 "data":{"object":{"id":"ord_cuadra_0001","object":"order","amount":1160050,"currency":"MXN","payment_status":"paid",
 "metadata":{"invoice_uuid":"6d7434a6-e3f2-47ad-9e4c-08849946afa0"},
 "customer_info":{"name":"Comercializadora Ejemplo","email":"pagos@example.com"},
 "charges":{"object":"list","data":[{"id":"chg_cuadra_0001","object":"charge","amount":1160050,"currency":"MXN",
   "status":"paid","paid_at":1768494000,"created_at":1768493000,"order_id":"ord_cuadra_0001",
   "payment_method":{"type":"spei","object":"bank_transfer_payment","clabe":"646180111812345678","bank":"STP"}}]}}}}"#;

const OPENPAY_CHARGE: &str = r#"{"id":"trcuadra0001","authorization":"801585","operation_type":"in","transaction_type":"charge",
 "status":"completed","creation_date":"2026-01-14T17:50:09-06:00","operation_date":"2026-01-15T10:21:33-06:00",
 "description":"Pago factura","order_id":"6d7434a6-e3f2-47ad-9e4c-08849946afa0","customer_id":"cus1",
 "payment_method":{"type":"bank_transfer","bank":"BBVA Bancomer","agreement":"1411217","clabe":"012180001234567899","name":"11094690394055678934"},
 "amount":1160.10,"currency":"MXN","method":"bank_account"}"#;

const OPENPAY_NOTE: &str = r#"{"type":"charge.succeeded","event_date":"2026-01-15T10:21:33-06:00","transaction":{"id":"trcuadra0001","status":"completed","amount":1160.10}}"#;

const MP_NOTE: &str = r#"{"action":"payment.updated","api_version":"v1","data":{"id":"123456789"},"date_created":"2026-01-15T10:30:01Z","id":998877,"live_mode":false,"type":"payment","user_id":"42"}"#;

const MP_PAYMENT: &str = r#"{"id":123456789,"status":"approved","status_detail":"accredited","currency_id":"MXN",
 "transaction_amount":1160.10,"date_approved":"2026-01-15T10:30:01.000-06:00","date_created":"2026-01-15T10:29:00.000-06:00",
 "external_reference":"6d7434a6-e3f2-47ad-9e4c-08849946afa0","payment_method_id":"clabe",
 "payer":{"first_name":"Ana","last_name":"Perez"}}"#;

pub(super) fn abono(to: &str) -> Vec<u8> {
    format!(
        r#"{{"id":"4455667","fechaOperacion":20260115,"institucionOrdenante":40072,"institucionBeneficiaria":90646,
 "claveRastreo":"BNET01002601150000012345","monto":"2320.35","nombreOrdenante":"JUAN PEREZ","tipoCuentaOrdenante":40,
 "cuentaOrdenante":"072180001234567891","rfcCurpOrdenante":"PEJJ800101AB1","nombreBeneficiario":"MI EMPRESA",
 "tipoCuentaBeneficiario":40,"cuentaBeneficiario":"{to}","rfcCurpBeneficiario":"ND",
 "conceptoPago":"FACTURA B-77","referenciaNumerica":"7700077","empresa":"MIEMPRESA","tipoPago":1,"tsLiquidacion":1768494093123}}"#
    )
    .into_bytes()
}

/// For one provider: a signed delivery, the payment it must create, and a way to break its authentication.
struct Case {
    good: Req,
    payment: (&'static str, &'static str, i64),
    unsigned: Req,
    garbage: Req,
}

fn cases(h: &Hooks) -> Vec<Case> {
    h.api
        .answer("/v1/mcuadra/charges/trcuadra0001", OPENPAY_CHARGE);
    h.api.answer("/v1/payments/123456789", MP_PAYMENT);
    let garbage = b"\x00 not json {".to_vec();
    let stripe = h.stripe(stripe_event("evt_cuadra_1", "pi_cuadra_1", 116_010));
    let mut stripe_bad = stripe.clone();
    stripe_bad.body = stripe_event("evt_cuadra_1", "pi_cuadra_1", 999_999);
    let conekta = h.conekta(CONEKTA_ORDER.as_bytes().to_vec());
    let mut conekta_bad = conekta.clone();
    conekta_bad.body = CONEKTA_ORDER.replace("1160050", "9160050").into_bytes();
    let openpay = h.openpay(OPENPAY_NOTE.as_bytes().to_vec());
    let mut openpay_bad = openpay.clone();
    openpay_bad.basic = Some(("openpay".into(), "wrong".into()));
    let mp = h.mercadopago("123456789", "rid-1", MP_NOTE.as_bytes().to_vec());
    let mut mp_bad = mp.clone();
    mp_bad.query = "data.id=123456780&type=payment".into();
    let stp = h.stp(abono(OURS));
    let mut stp_bad = stp.clone();
    stp_bad.basic = None;
    vec![
        Case {
            good: stripe,
            payment: ("pi_cuadra_1", "provider", 1_160_100_000),
            unsigned: stripe_bad,
            garbage: h.stripe(garbage.clone()),
        },
        Case {
            good: conekta,
            payment: ("chg_cuadra_0001", "provider", 11_600_500_000),
            unsigned: conekta_bad,
            garbage: h.conekta(garbage.clone()),
        },
        Case {
            good: openpay,
            payment: ("trcuadra0001", "provider", 1_160_100_000),
            unsigned: openpay_bad,
            garbage: h.openpay(garbage.clone()),
        },
        Case {
            good: mp,
            payment: ("123456789", "provider", 1_160_100_000),
            unsigned: mp_bad,
            garbage: h.mercadopago("123456789", "rid-2", garbage.clone()),
        },
        Case {
            good: stp,
            payment: ("BNET01002601150000012345/20260115", "spei", 2_320_350_000),
            unsigned: stp_bad,
            garbage: h.stp(garbage),
        },
    ]
}

#[tokio::test]
async fn each_provider_stores_once_and_refuses_what_it_must() {
    for b in backends().await {
        let h = spawn_hooks(b, "").await;
        for case in cases(&h) {
            let name = case.good.connector.clone();
            let (ext, kind, micros) = case.payment;
            // Refusals first: nothing stored for any of them.
            let (code, _) = h.post(&case.unsigned).await;
            assert_eq!(code, 401, "{b:?} {name}: bad signature");
            let (code, body) = h.post(&case.garbage).await;
            assert_eq!(code, 400, "{b:?} {name}: signed garbage: {body}");
            let mut big = case.good.clone();
            big.body = vec![b' '; 1024 * 1024 + 1];
            let (code, _) = h.post(&big).await;
            assert_eq!(code, 413, "{b:?} {name}: oversized");
            // Only the signed garbage is kept, for a person (kind `rejected`); nothing reached the ledger.
            assert_eq!(h.stored_besides_rejected().await, 0, "{b:?} {name}");
            assert_eq!(h.payment(ext).await, None, "{b:?} {name}");
            // The signed delivery: 2xx, stored, a payment in the ledger.
            let (code, body) = h.post(&case.good).await;
            assert!((200..300).contains(&code), "{b:?} {name}: {code} {body}");
            let p = h.payment(ext).await;
            assert_eq!(
                p,
                Some((kind.to_string(), micros, "MXN".to_string())),
                "{b:?} {name}"
            );
            // The same delivery again: acknowledged, nothing changes.
            let (raw, pays) = (h.count("raw_inbox").await, h.count("payments").await);
            let (code, body2) = h.post(&case.good).await;
            assert!((200..300).contains(&code), "{b:?} {name} repeat: {code}");
            assert_eq!(body2, body, "{b:?} {name}: same answer on repeat");
            assert_eq!(h.count("raw_inbox").await, raw, "{b:?} {name} repeat");
            assert_eq!(h.count("payments").await, pays, "{b:?} {name} repeat");
            // Clean slate for the next provider's refusal counts.
            sqlx::query("DELETE FROM raw_inbox")
                .execute(h.t.app.store.pool())
                .await
                .unwrap();
        }
        let (code, _) = h
            .post(&Req {
                connector: "nobody".into(),
                body: b"{}".to_vec(),
                ..Req::default()
            })
            .await;
        assert_eq!(code, 404, "{b:?}");
        assert_eq!(h.stored_besides_rejected().await, 0, "{b:?}");
        assert_eq!(h.count("payments").await, 5, "{b:?}");
        h.t.stop().await;
    }
}

#[tokio::test]
async fn stp_confirms_our_accounts_and_returns_foreign_ones() {
    for b in backends().await {
        let h = spawn_hooks(b, "").await;
        let (code, body) = h.post(&h.stp(abono(FOREIGN))).await;
        assert_eq!(
            (code, body.as_str()),
            (400, r#"{"mensaje":"devolver","id":1}"#),
            "{b:?}"
        );
        assert_eq!(h.count("raw_inbox").await, 0, "{b:?}");
        assert_eq!(h.count("payments").await, 0, "{b:?}");
        let (code, body) = h.post(&h.stp(abono(OURS))).await;
        assert_eq!(
            (code, body.as_str()),
            (200, r#"{"mensaje":"confirmar"}"#),
            "{b:?}"
        );
        let row: (String, String, String, Option<String>) = sqlx::query_as(
            "SELECT kind, own_account, payer_account, referencia_numerica FROM payments",
        )
        .fetch_one(h.t.app.store.pool())
        .await
        .unwrap();
        assert_eq!(
            row,
            (
                "spei".into(),
                OURS.into(),
                "072180001234567891".into(),
                Some("7700077".into())
            ),
            "{b:?}"
        );
        // A state change of one of our outgoing orders: acknowledged the way STP expects.
        let estado = br#"{"id":"1128175285","empresa":"MIEMPRESA","folioOrigen":"REF-1","estado":"Success","causaDevolucion":"","tsLiquidacion":"1768494100456"}"#;
        let (code, body) = h.post(&h.stp(estado.to_vec())).await;
        assert_eq!(
            (code, body.as_str()),
            (200, r#"{"mensaje":"recibido"}"#),
            "{b:?}"
        );
        // IP allow-list: the socket address counts; a client-sent header (the old pseudo-header) does not.
        let mut local = h.stp(abono(OURS));
        local.connector = "stp_local".into();
        local.basic = None;
        assert_eq!(h.post(&local).await.0, 200, "{b:?}: 127.0.0.1 allowed");
        let mut far = local.clone();
        far.connector = "stp_far".into();
        far.headers = vec![("x-cuadra-peer-addr".into(), "203.0.113.7".into())];
        assert_eq!(h.post(&far).await.0, 401, "{b:?}: spoofed peer address");
        assert_eq!(h.count("payments").await, 1, "{b:?}");
        h.t.stop().await;
    }
}

// ---- Durability: SIGKILL right after the 2xx -----------------------------------------------------------------

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `cuadra run` with `cfg` and waits for `/readyz`.
async fn start_binary(dir: &Path, cfg: &Path, port: u16) -> std::process::Child {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_cuadra"))
        .arg("--config")
        .arg(cfg)
        .arg("run")
        .current_dir(dir)
        .env_remove("CUADRA_CONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn cuadra run");
    let url = format!("http://127.0.0.1:{port}/readyz");
    let ready = super::helpers::eventually(20, || {
        let url = url.clone();
        async move { matches!(reqwest::get(&url).await, Ok(r) if r.status().is_success()) }
    })
    .await;
    assert!(ready, "cuadra run did not become ready on port {port}");
    child
}

#[tokio::test]
async fn a_payment_acknowledged_survives_sigkill() {
    for b in backends().await {
        let db = fresh_db(b).await;
        let dir = db.dir.path();
        let port = free_port();
        let cfg = dir.join("run.toml");
        std::fs::write(
            &cfg,
            format!(
                "[database]\nurl = \"{}\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n[inbox]\npath = \"{}\"\n\
                 [connectors.stripe]\nkind = \"stripe\"\nwebhook_secret = \"{STRIPE_SECRET}\"\n",
                db.url,
                dir.join("inbox").display()
            ),
        )
        .unwrap();
        let mut child = start_binary(dir, &cfg, port).await;
        let body = stripe_event("evt_durable_1", "pi_durable_1", 250_075);
        let resp = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/webhooks/stripe"))
            .header("stripe-signature", stripe_signature(STRIPE_SECRET, &body))
            .body(body)
            .send()
            .await
            .expect("webhook");
        assert_eq!(resp.status(), 200, "{b:?}");
        // No clean shutdown: the process dies the instant after its answer.
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        let mut child = start_binary(dir, &cfg, port).await;
        let out = super::helpers::cuadra(
            dir,
            &[
                "--config",
                cfg.to_str().unwrap(),
                "report",
                "payments",
                "--format",
                "json",
            ],
        );
        child.kill().ok();
        child.wait().ok();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rows: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(rows.len(), 1, "{b:?}: {rows:?}");
        assert_eq!(rows[0]["external_id"], "pi_durable_1");
        assert_eq!(rows[0]["amount"], "2500.75");
        assert_eq!(rows[0]["source"], "stripe");
    }
}

// ---- The shared corpus: real payloads replayed ---------------------------------------------------------------

fn shared_webhooks() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/bank/webhooks"
    ));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIP shared webhook corpus: {} not found", dir.display());
        None
    }
}

#[tokio::test]
async fn shared_payloads_replayed_through_the_daemon() {
    let Some(dir) = shared_webhooks() else { return };
    let read = |p: &str| std::fs::read(dir.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    let vectors: Value = serde_json::from_slice(&read("signature_test_vectors.json")).unwrap();
    let conekta = &vectors["conekta"][0];
    let pem = conekta["public_key_pem"]
        .as_str()
        .expect("conekta vector key");
    let extra = format!(
        "[connectors.conekta_vector]\nkind = \"conekta\"\npublic_key = \"\"\"\n{pem}\"\"\"\n\
         [connectors.stripe_vector]\nkind = \"stripe\"\nwebhook_secret = \"{}\"\n",
        vectors["stripe"][0]["secret"].as_str().unwrap()
    );
    for b in backends().await {
        let h = spawn_hooks(b, &extra).await;
        // Stripe: every sample re-signed now; known ones checked in the ledger.
        let mut names: Vec<_> = std::fs::read_dir(dir.join("stripe"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        names.sort();
        for n in &names {
            let (code, body) = h.post(&h.stripe(read(&format!("stripe/{n}")))).await;
            assert!(
                code == 200 || code == 400,
                "{b:?} stripe/{n}: {code} {body}"
            );
        }
        let p = h.payment("pi_000000000000000000000000").await;
        assert_eq!(
            p,
            Some(("provider".into(), 20_000_000, "USD".into())),
            "{b:?}"
        );
        let p = h.payment("re_000000000000000000000000").await;
        assert_eq!(p.map(|p| p.1), Some(-1_000_000), "{b:?} refund");
        let p = h.payment("pi_00000000000000").await;
        assert_eq!(p.map(|p| p.1), Some(250_000_000), "{b:?} checkout");
        // The vector's own signature is five-minutes-stale by now: refused, not stored.
        let before = h.count("raw_inbox").await;
        let stale = Req {
            connector: "stripe_vector".into(),
            headers: vec![(
                "stripe-signature".into(),
                vectors["stripe"][0]["header"].as_str().unwrap().into(),
            )],
            body: read("stripe/payment_intent.succeeded.json"),
            ..Req::default()
        };
        assert_eq!(h.post(&stale).await.0, 401, "{b:?} stale vector");
        assert_eq!(h.count("raw_inbox").await, before, "{b:?}");
        // Conekta: the vector's digest verifies as is; a tampered copy does not.
        let body = read("conekta/event_order.paid.json");
        let digest = conekta["digest_header_base64"]
            .as_str()
            .unwrap()
            .to_string();
        let mut req = Req {
            connector: "conekta_vector".into(),
            headers: vec![("digest".into(), digest)],
            body: body.clone(),
            ..Req::default()
        };
        assert_eq!(h.post(&req).await.0, 200, "{b:?} conekta vector");
        let p = h.payment("637e79c970d06300013ea159").await;
        assert_eq!(
            p,
            Some(("provider".into(), 200_000_000, "MXN".into())),
            "{b:?}"
        );
        req.body.insert(1, b' ');
        assert_eq!(h.post(&req).await.0, 401, "{b:?} conekta tampered");
        // Mercado Pago: the notification re-signed, the payment served by the fake API.
        let note = read("mercadopago/synthetic_notification_payment.updated.json");
        let payment = String::from_utf8(read("mercadopago/payment_get_approved.json")).unwrap();
        h.api.answer("/v1/payments/17014025134", &payment);
        let (code, body) = h
            .post(&h.mercadopago("17014025134", "rid-shared", note))
            .await;
        assert_eq!(code, 200, "{b:?} mercadopago: {body}");
        let p = h.payment("17014025134").await;
        assert_eq!(
            p,
            Some(("provider".into(), 58_800_000, "BRL".into())),
            "{b:?}"
        );
        // Openpay: the charge the notification names, served by the fake API; the verification ping is kept raw.
        let note = read("openpay/synthetic_charge.succeeded_bank_transfer.json");
        let v: Value = serde_json::from_slice(&note).unwrap();
        h.api.answer(
            "/v1/mcuadra/charges/trzjaozcik8msyqshka4",
            &v["transaction"].to_string(),
        );
        assert_eq!(h.post(&h.openpay(note)).await.0, 200, "{b:?} openpay");
        let p = h.payment("trzjaozcik8msyqshka4").await;
        assert_eq!(
            p,
            Some(("provider".into(), 100_000_000, "MXN".into())),
            "{b:?}"
        );
        let before = h.count("raw_inbox").await;
        let ping = read("openpay/synthetic_verification.json");
        assert_eq!(h.post(&h.openpay(ping)).await.0, 200, "{b:?} openpay ping");
        assert_eq!(
            h.count("raw_inbox").await,
            before + 1,
            "{b:?} ping kept raw"
        );
        // STP: every abono and state change answers as STP expects; the abono to our account is stored.
        let mut names: Vec<_> = std::fs::read_dir(dir.join("stp"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| {
                !n.starts_with("api_") && !n.starts_with("conciliacion") && !n.contains("response")
            })
            .collect();
        names.sort();
        for n in &names {
            let (code, body) = h.post(&h.stp(read(&format!("stp/{n}")))).await;
            assert!(
                code == 200
                    || (code == 400
                        && (body.contains("devolver")
                            || body.contains("malformed")
                            || body.contains("refused"))),
                "{b:?} stp/{n}: {code} {body}"
            );
        }
        h.t.stop().await;
    }
}

/// Issue 18: a verified delivery whose amount the ledger cannot hold exactly (beyond the i64 micro-unit range,
/// more than six decimals) is the sender's problem: 400 with the reason, nothing stored, and the daemon goes on
/// storing the next good delivery (before: 503, so the provider retried for days).
#[tokio::test]
async fn a_verified_webhook_with_an_unstorable_amount_gets_400_with_a_reason() {
    for b in backends().await {
        let h = spawn_hooks(b, "").await;
        let huge = h.stripe(stripe_event("evt_cuadra_big", "pi_cuadra_big", i64::MAX));
        let (code, body) = h.post(&huge).await;
        assert_eq!(code, 400, "{b:?} stripe: {body}");
        assert!(body.contains("payment amount"), "{b:?} stripe: {body}");
        let fine = String::from_utf8(abono(OURS))
            .unwrap()
            .replace("\"2320.35\"", "\"2320.3500001\"");
        let (code, body) = h.post(&h.stp(fine.into_bytes())).await;
        assert_eq!(code, 400, "{b:?} stp: {body}");
        assert!(body.contains("more than 6 decimals"), "{b:?} stp: {body}");
        assert_eq!(h.stored_besides_rejected().await, 0, "{b:?}");
        assert_eq!(h.count("payments").await, 0, "{b:?}");
        let good = h.stripe(stripe_event("evt_cuadra_ok", "pi_cuadra_ok", 116_010));
        let (code, body) = h.post(&good).await;
        assert!((200..300).contains(&code), "{b:?}: {code} {body}");
        assert_eq!(h.count("payments").await, 1, "{b:?}");
        h.t.stop().await;
    }
}
