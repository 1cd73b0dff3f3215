//! Shared helpers: messages, settings for the fakes.

use chrono::{TimeZone, Utc};
use cuadra_erp::OdooSettings;
use cuadra_sdk::{CompanyContext, IdempotencyKey, OutboundMessage};
use cuadra_testkit::erp::{FakeOdoo, API_KEY, DATABASE, USERNAME};
use secrecy::SecretString;

pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub fn msg(key: &str, event_type: &str, payload: serde_json::Value) -> OutboundMessage {
    OutboundMessage {
        key: IdempotencyKey::parse(key).expect("test key"),
        event_type: event_type.into(),
        ordering_key: "inv".into(),
        payload,
        created_at: Utc
            .with_ymd_and_hms(2024, 6, 2, 15, 0, 0)
            .single()
            .expect("valid date"),
        attempt: 0,
    }
}

pub fn ctx() -> CompanyContext {
    CompanyContext {
        now: Utc::now(),
        ..CompanyContext::default()
    }
}

pub fn odoo_settings(fake: &FakeOdoo) -> OdooSettings {
    OdooSettings {
        kind: Some("odoo".into()),
        url: fake.url(),
        database: DATABASE.into(),
        username: USERNAME.into(),
        api_key: Some(SecretString::from(API_KEY)),
        journal: Some("BNK1".into()),
        page_size: Some(2),
        timeout_secs: Some(2),
        ..OdooSettings::default()
    }
}
