//! The connector contract: what one kind of connector (`kind = "..."` in a `[connectors.NAME]` table) tells the
//! daemon. A kind reads its own typed settings from the table once ([`KindContext::settings`]), builds its sides
//! ([`Parts`]: a source, a webhook handler, a sink, a default schedule), answers `cuadra doctor`, describes its
//! checkpoint for `cuadra sync`, and may name the file family that opens what it delivers (SAT packages are read
//! by the CFDI importer). What a kind may know of the daemon arrives in [`KindContext`]; the daemon's registry
//! lists the kinds, one line each, and nothing else in the daemon knows a kind by name.

use crate::connector::{Checkpoint, Sink, Source, WebhookHandler};
use crate::records::Delivery;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// One kind of connector. Implementations are unit structs (or a struct per family with the kind's name) held in
/// statics, so the registry can list `&'static dyn ConnectorKind`.
pub trait ConnectorKind: Send + Sync {
    /// The `kind` string of the table (`sat`, `stripe`, `odoo`, `statements`, ...).
    fn kind(&self) -> &'static str;

    /// Reads the table (through [`KindContext::settings`]) and builds what the connector does. Errors name the
    /// key: `connectors.NAME.KEY: ...`, or `connectors.NAME: ...` for the table as a whole.
    fn build(&self, ctx: &KindContext<'_>) -> Result<Parts, ConfigError>;

    /// The `cuadra doctor` lines of one configured connector (`ok    NAME: ...`, `warn  ...`, `fail  ...`). The
    /// default says the connector is configured, without building it.
    fn doctor(&self, ctx: &KindContext<'_>) -> Doctor {
        Doctor {
            ok: true,
            lines: vec![format!(
                "ok    {}: {} connector configured",
                ctx.name, ctx.kind
            )],
        }
    }

    /// Progress lines printed under a connector's line after `cuadra sync` (already indented). None by default.
    fn describe(&self, checkpoint: &Checkpoint) -> Vec<String> {
        let _ = checkpoint;
        Vec::new()
    }

    /// The file family (`cfdi`, `statement`, ...) whose importer opens `delivery` before it is stored, for
    /// deliveries that are packages of other documents; `None` (the default) stores it as it is.
    fn opened_by(&self, delivery: &Delivery) -> Option<&'static str> {
        let _ = delivery;
        None
    }
}

/// What a configured connector does; a kind may fill several sides.
#[derive(Default, Clone)]
pub struct Parts {
    pub source: Option<Arc<dyn Source>>,
    pub webhook: Option<Arc<dyn WebhookHandler>>,
    pub sink: Option<Arc<dyn Sink>>,
    /// The schedule used when the table gives none.
    pub default_schedule: Option<String>,
}

/// The result of a kind's doctor check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Doctor {
    pub ok: bool,
    pub lines: Vec<String>,
}

/// Everything a kind may know when it builds: its table and a few facts of the daemon's settings. Never the
/// ledger, never the whole settings.
pub struct KindContext<'a> {
    /// The `NAME` of `[connectors.NAME]`.
    pub name: &'a str,
    /// The table's `kind`.
    pub kind: &'a str,
    /// The table's keys except `kind` (`schedule` included when given), environment overrides applied (as
    /// strings).
    pub table: &'a Map<String, Value>,
    /// `company.rfcs`, as written.
    pub company_rfcs: &'a [String],
    /// `company.timezone` (an IANA name, validated).
    pub time_zone: &'a str,
    /// `[accounts.NAME]` numbers by account name.
    pub accounts: &'a BTreeMap<String, String>,
    /// The daemon's clock.
    pub now: DateTime<Utc>,
    /// Reads an environment variable (the process's environment in the daemon; tests may pass their own).
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

impl KindContext<'_> {
    /// The table as the kind's settings struct: environment strings read as numbers or booleans where the struct
    /// asks for them; errors name `connectors.NAME.KEY`.
    pub fn settings<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        self.settings_from(Value::Object(self.table.clone()))
    }

    /// Like [`KindContext::settings`], from a table the kind prepared (e.g. [`KindContext::table_with_kind`]).
    pub fn settings_from<T: DeserializeOwned>(&self, table: Value) -> Result<T, ConfigError> {
        crate::lenient::from_value(table).map_err(|(path, message)| {
            self.error((!path.is_empty()).then_some(path.as_str()), message)
        })
    }

    /// The table with `kind` put back, for settings structs that check it.
    pub fn table_with_kind(&self) -> Map<String, Value> {
        let mut t = self.table.clone();
        t.insert("kind".into(), self.kind.into());
        t
    }

    /// An error about the table (`key` = None) or one of its keys.
    pub fn error(&self, key: Option<&str>, message: impl fmt::Display) -> ConfigError {
        ConfigError {
            at: match key {
                Some(k) => format!("connectors.{}.{k}", self.name),
                None => format!("connectors.{}", self.name),
            },
            message: message.to_string(),
        }
    }

    /// The environment variable that overrides `key` of this table: `CUADRA__CONNECTORS__NAME__KEY`.
    pub fn env_var(&self, key: &str) -> String {
        format!(
            "CUADRA__CONNECTORS__{}__{}",
            self.name.to_uppercase(),
            key.to_uppercase()
        )
    }

    /// The value of [`KindContext::env_var`] in the environment, if set.
    pub fn env_override(&self, key: &str) -> Option<String> {
        (self.env)(&self.env_var(key))
    }
}

/// A configuration error naming where it is (`connectors.NAME` or `connectors.NAME.KEY`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {message}")]
pub struct ConfigError {
    pub at: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_table_and_the_key() {
        let table: Map<String, Value> = serde_json::json!({"days": "x"})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let accounts = BTreeMap::new();
        let env = |_: &str| None;
        let ctx = KindContext {
            name: "toy",
            kind: "toy",
            table: &table,
            company_rfcs: &[],
            time_zone: "America/Mexico_City",
            accounts: &accounts,
            now: Utc::now(),
            env: &env,
        };
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct S {
            days: u32,
        }
        let e = ctx.settings::<S>().unwrap_err();
        assert!(e.to_string().starts_with("connectors.toy.days: "), "{e}");
        assert_eq!(ctx.env_var("password"), "CUADRA__CONNECTORS__TOY__PASSWORD");
        assert_eq!(ctx.error(None, "bad").to_string(), "connectors.toy: bad");
        assert_eq!(ctx.table_with_kind().get("kind"), Some(&Value::from("toy")));
    }
}
