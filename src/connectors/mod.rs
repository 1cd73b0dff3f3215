//! The daemon side of each connector family: the factory that turns a `[connectors.NAME]` table into a
//! [`crate::registry::Connector`], and whatever the family needs from the daemon (secrets, doctor checks).

pub mod erp;
pub mod providers;
pub mod sat;
pub mod statements;

use crate::config::ConnectorSettings;

/// The connector's table as JSON, with `kind` and `schedule` put back, for the family's own settings struct.
pub(crate) fn table(c: &ConnectorSettings, with_kind: bool) -> serde_json::Value {
    let mut map: serde_json::Map<String, serde_json::Value> = c
        .settings
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if with_kind {
        map.insert("kind".into(), c.kind.clone().into());
    }
    if let Some(s) = &c.schedule {
        map.insert("schedule".into(), s.clone().into());
    }
    serde_json::Value::Object(map)
}
