//! Payment providers and STP: webhook connectors (`stripe`, `conekta`, `openpay`, `mercadopago`, `stp`).

use crate::config::{ConnectorSettings, Settings};
use crate::registry::Connector;
use cuadra_providers::ProviderSettings;
use std::sync::Arc;

pub fn build(name: &str, c: &ConnectorSettings, settings: &Settings) -> anyhow::Result<Connector> {
    let mut table = super::table(c, true);
    if let Some(map) = table.as_object_mut() {
        map.remove("schedule");
        if !map.contains_key("time_zone") {
            map.insert("time_zone".into(), settings.company.timezone.clone().into());
        }
    }
    let mut ps: ProviderSettings =
        serde_json::from_value(table).map_err(|e| anyhow::anyhow!("connectors.{name}: {e}"))?;
    ps.resolve_secret_files()
        .map_err(|e| anyhow::anyhow!("connectors.{name}: {e}"))?;
    let handler = cuadra_providers::build(&c.kind, &ps)
        .map_err(|e| anyhow::anyhow!("connectors.{name}: {e}"))?;
    Ok(Connector {
        webhook: Some(Arc::from(handler)),
        ..Default::default()
    })
}
