//! ERP and CRM connectors: `http` (any ERP, iPaaS or internal system: outbound events signed as Standard
//! Webhooks, a JSON pull, an inbound webhook) and `odoo` (JSON-RPC pull of partners and invoices, payments
//! registered per allocation and reversed on unmatch).

use crate::config::{ConnectorSettings, Settings};
use crate::registry::Connector;
use std::sync::Arc;

fn parse<T: serde::de::DeserializeOwned>(name: &str, c: &ConnectorSettings) -> anyhow::Result<T> {
    let mut table = super::table(c, true);
    // Numbers from the environment arrive as strings.
    if let Some(map) = table.as_object_mut() {
        for key in ["timeout_secs", "tolerance_secs", "page_size"] {
            if let Some(n) = map
                .get(key)
                .and_then(|v| v.as_str())
                .and_then(|s| s.parse::<u64>().ok())
            {
                map.insert(key.into(), n.into());
            }
        }
        if let Some(n) = map
            .get("rate_per_sec")
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse::<f64>().ok())
        {
            map.insert("rate_per_sec".into(), serde_json::json!(n));
        }
    }
    serde_json::from_value(table).map_err(|e| anyhow::anyhow!("connectors.{name}: {e}"))
}

pub fn build_http(
    name: &str,
    c: &ConnectorSettings,
    _settings: &Settings,
) -> anyhow::Result<Connector> {
    let s: cuadra_erp::HttpSettings = parse(name, c)?;
    let built =
        cuadra_erp::build_http(&s).map_err(|e| anyhow::anyhow!("connectors.{name}: {e}"))?;
    Ok(Connector {
        source: built.source.map(|x| Arc::new(x) as _),
        sink: built.sink.map(|x| Arc::new(x) as _),
        webhook: built.webhook.map(|x| Arc::new(x) as _),
        ..Default::default()
    })
}

pub fn build_odoo(
    name: &str,
    c: &ConnectorSettings,
    _settings: &Settings,
) -> anyhow::Result<Connector> {
    let s: cuadra_erp::OdooSettings = parse(name, c)?;
    let built =
        cuadra_erp::build_odoo(&s).map_err(|e| anyhow::anyhow!("connectors.{name}: {e}"))?;
    Ok(Connector {
        source: Some(Arc::new(built.source)),
        sink: Some(Arc::new(built.sink)),
        ..Default::default()
    })
}
