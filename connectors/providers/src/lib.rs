//! Cuadra's payment-provider and SPEI webhook connectors: Stripe, Conekta, Openpay, Mercado Pago and STP, each a
//! [`cuadra_sdk::WebhookHandler`] built from [`ProviderSettings`] by [`build`].
//!
//! Every handler verifies the raw request before anything parses it, maps money exactly (minor-unit integers or the
//! decimal's literal text, never floats), and returns a delivery whose `external_id` is the provider's event or
//! notification id and whose `raw` is the exact body. Payment records use ids shared by every event about the same
//! money (see each module), so repeated or overlapping events do not count twice.
//!
//! # Layout
//! - [`settings`]: `ProviderSettings`, the keys of a provider connector table.
//! - [`kind`]: the five kinds' connector contract (`STRIPE`, `CONEKTA`, `OPENPAY`, `MERCADOPAGO`, `STP`).
//! - [`stripe`], [`conekta`], [`openpay`], [`mercadopago`], [`stp`] (+ `stp_auth`): the handlers.
//! - `sig`, `json`, `http`, `common`: HMAC and header helpers, exact JSON reading, the confirming API client,
//!   answer builders.
//! - `fuzz` (feature `fuzzing`): the entry the fuzz target and its stand-in test drive.

mod common;
pub mod conekta;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
mod http;
mod json;
pub mod kind;
pub mod mercadopago;
pub mod openpay;
pub mod settings;
mod sig;
pub mod stp;
mod stp_auth;
pub mod stripe;

pub use kind::ProviderKind;
pub use settings::ProviderSettings;
pub use stp_auth::IpNet;

use cuadra_sdk::{ConnectorError, WebhookHandler};

/// The connector kinds this crate builds.
pub const KINDS: &[&str] = &["stripe", "conekta", "openpay", "mercadopago", "stp"];

/// Builds the webhook handler for `kind` from its settings (secrets already resolved, see
/// [`ProviderSettings::resolve_secret_files`]). Errors name the missing or bad key.
pub fn build(
    kind: &str,
    settings: &ProviderSettings,
) -> Result<Box<dyn WebhookHandler>, ConnectorError> {
    if let Some(k) = &settings.kind {
        if k != kind {
            return Err(ConnectorError::Config(format!(
                "key kind: the table says {k:?} but the connector is being built as {kind:?}"
            )));
        }
    }
    let tz = settings.time_zone()?;
    match kind {
        "stripe" => Ok(Box::new(stripe::StripeHandler::new(
            settings.required_secret(kind)?,
            settings.tolerance_secs(),
            tz,
        ))),
        "conekta" => {
            if settings.public_key_file.is_some() {
                return Err(ConnectorError::Config(
                    "connector kind conekta: public_key_file was not resolved before building the connector".into(),
                ));
            }
            let pem = settings.public_key.as_deref().ok_or_else(|| {
                ConnectorError::Config(
                    "connector kind conekta: key public_key (or public_key_file) is required: the PEM public key \
                     of the account's webhook key"
                        .into(),
                )
            })?;
            Ok(Box::new(conekta::ConektaHandler::new(pem, tz)?))
        }
        "openpay" => {
            let user = settings.webhook_user.clone().ok_or_else(|| {
                ConnectorError::Config(
                    "connector kind openpay: key webhook_user is required (the user of the webhook's HTTP Basic credentials)".into(),
                )
            })?;
            let merchant_id = settings.merchant_id.clone().ok_or_else(|| {
                ConnectorError::Config("connector kind openpay: key merchant_id is required".into())
            })?;
            Ok(Box::new(openpay::OpenpayHandler {
                user,
                password: settings.required_secret(kind)?,
                api_base: settings.api_base(openpay::DEFAULT_API_BASE)?,
                merchant_id,
                private_key: settings.required_api_key(kind)?,
                client: http::ApiClient::new(settings.timeout())?,
                tz,
            }))
        }
        "mercadopago" => Ok(Box::new(mercadopago::MercadoPagoHandler {
            secret: settings.required_secret(kind)?,
            tolerance_secs: settings.tolerance_secs(),
            api_base: settings.api_base(mercadopago::DEFAULT_API_BASE)?,
            access_token: settings.required_api_key(kind)?,
            client: http::ApiClient::new(settings.timeout())?,
            tz,
        })),
        "stp" => Ok(Box::new(stp::StpHandler {
            auth: stp_auth::StpAuth::from_settings(settings)?,
            devolver_code: settings.devolver_code.unwrap_or(1),
            tz,
        })),
        other => Err(ConnectorError::Config(format!(
            "key kind: {other:?} is not a provider kind; expected one of {}",
            KINDS.join(", ")
        ))),
    }
}
