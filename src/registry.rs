//! The explicit registry: every connector kind (`kind` string → factory) and every file family the inbox and
//! `cuadra import` understand. Adding a connector is one line here plus its own crate.

use crate::config::{ConnectorSettings, Settings};
use cuadra_sdk::{FileImporter, Sink, Source, WebhookHandler};
use std::sync::Arc;

/// What a configured connector can do; a kind may be several of these.
#[derive(Default, Clone)]
pub struct Connector {
    pub name: String,
    pub kind: String,
    pub source: Option<Arc<dyn Source>>,
    pub webhook: Option<Arc<dyn WebhookHandler>>,
    pub sink: Option<Arc<dyn Sink>>,
    /// The schedule used when the table gives none.
    pub default_schedule: Option<String>,
}

type Factory = fn(&str, &ConnectorSettings, &Settings) -> anyhow::Result<Connector>;

/// Every connector kind this build knows, with its factory.
pub fn connector_kinds() -> Vec<(&'static str, Factory)> {
    vec![
        // Registration lines: one per kind.
        ("sat", crate::connectors::sat::build),
        ("stripe", crate::connectors::providers::build),
        ("conekta", crate::connectors::providers::build),
        ("openpay", crate::connectors::providers::build),
        ("mercadopago", crate::connectors::providers::build),
        ("stp", crate::connectors::providers::build),
        ("http", crate::connectors::erp::build_http),
        ("odoo", crate::connectors::erp::build_odoo),
        ("statements", crate::connectors::statements::build),
    ]
}

/// Builds every configured connector; an unknown kind is an error naming the key.
pub fn build_connectors(settings: &Settings) -> anyhow::Result<Vec<Connector>> {
    let kinds = connector_kinds();
    let mut out = Vec::new();
    for (name, c) in &settings.connectors {
        let Some((_, factory)) = kinds.iter().find(|(k, _)| *k == c.kind) else {
            let known: Vec<&str> = kinds.iter().map(|(k, _)| *k).collect();
            anyhow::bail!(
                "connectors.{name}.kind: unknown kind {:?}; this build knows {}",
                c.kind,
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            );
        };
        let mut conn = factory(name, c, settings)?;
        conn.name = name.clone();
        conn.kind = c.kind.clone();
        out.push(conn);
    }
    Ok(out)
}

/// File families, in the order the inbox tries them.
pub fn file_importers(settings: &Settings) -> Vec<Arc<dyn FileImporter>> {
    vec![
        Arc::new(crate::import::CustomersImporter),
        Arc::new(cuadra_cfdi::CfdiImporter::new(settings.company_rfcs())),
        Arc::new(cuadra_bank::StatementImporter::new(None)),
    ]
}

/// The importer of one family (`customers`, `cfdi`, `statement`).
pub fn file_importer(settings: &Settings, family: &str) -> Option<Arc<dyn FileImporter>> {
    file_importers(settings)
        .into_iter()
        .find(|i| i.family() == family)
}
