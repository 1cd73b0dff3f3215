//! The explicit registry: every connector kind this build knows (one line each, behind its family's cargo feature)
//! and every file family the inbox and `cuadra import` understand. A kind is a crate implementing
//! [`cuadra_sdk::ConnectorKind`] plus its line in [`connector_kinds`]; nothing else in the daemon names a kind (see
//! "Adding a connector" in the README).

use crate::config::{ConnectorSettings, Settings};
use cuadra_sdk::{ConnectorKind, Doctor, FileImporter, KindContext, Sink, Source, WebhookHandler};
use std::collections::BTreeMap;
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
    /// The kind that built it (`None` for connectors built in code): it describes the checkpoint after a sync and
    /// says which deliveries are packages to open.
    pub of_kind: Option<&'static dyn ConnectorKind>,
}

/// Every connector kind this build knows. Registration lines: one per kind.
pub fn connector_kinds() -> Vec<&'static dyn ConnectorKind> {
    vec![
        #[cfg(feature = "sat")]
        &cuadra_sat::SatKind,
        #[cfg(feature = "providers")]
        &cuadra_providers::kind::STRIPE,
        #[cfg(feature = "providers")]
        &cuadra_providers::kind::CONEKTA,
        #[cfg(feature = "providers")]
        &cuadra_providers::kind::OPENPAY,
        #[cfg(feature = "providers")]
        &cuadra_providers::kind::MERCADOPAGO,
        #[cfg(feature = "providers")]
        &cuadra_providers::kind::STP,
        #[cfg(feature = "erp")]
        &cuadra_erp::HttpKind,
        #[cfg(feature = "erp")]
        &cuadra_erp::OdooKind,
        #[cfg(feature = "bank")]
        &cuadra_bank::StatementsKind,
    ]
}

/// Builds every configured connector with this build's kinds; an unknown kind is an error naming the key.
pub fn build_connectors(settings: &Settings) -> anyhow::Result<Vec<Connector>> {
    build_connectors_with(settings, &connector_kinds())
}

/// Builds every configured connector with the given kinds (the registry's, plus any an embedding program or a
/// test adds).
pub fn build_connectors_with(
    settings: &Settings,
    kinds: &[&'static dyn ConnectorKind],
) -> anyhow::Result<Vec<Connector>> {
    let mut out = Vec::new();
    for (name, c) in &settings.connectors {
        let kind = find_kind(kinds, name, c)?;
        let parts = with_context(settings, name, c, |ctx| kind.build(ctx))?;
        if let Some(s) = &parts.default_schedule {
            crate::scheduler::validate_cron(s)
                .map_err(|e| anyhow::anyhow!("connectors.{name}.schedule: {e}"))?;
        }
        out.push(Connector {
            name: name.clone(),
            kind: c.kind.clone(),
            source: parts.source,
            webhook: parts.webhook,
            sink: parts.sink,
            default_schedule: parts.default_schedule,
            of_kind: Some(kind),
        });
    }
    Ok(out)
}

/// The `cuadra doctor` lines of one configured connector, from its kind.
pub fn doctor(
    settings: &Settings,
    name: &str,
    c: &ConnectorSettings,
    now: chrono::DateTime<chrono::Utc>,
) -> Doctor {
    doctor_with(settings, &connector_kinds(), name, c, now)
}

/// Like [`doctor`], with the given kinds.
pub fn doctor_with(
    settings: &Settings,
    kinds: &[&'static dyn ConnectorKind],
    name: &str,
    c: &ConnectorSettings,
    now: chrono::DateTime<chrono::Utc>,
) -> Doctor {
    match find_kind(kinds, name, c) {
        Ok(kind) => context(settings, name, c, now, |ctx| kind.doctor(ctx)),
        Err(e) => Doctor {
            ok: false,
            lines: vec![format!("fail  {name}: {e:#}")],
        },
    }
}

fn find_kind(
    kinds: &[&'static dyn ConnectorKind],
    name: &str,
    c: &ConnectorSettings,
) -> anyhow::Result<&'static dyn ConnectorKind> {
    if let Some(k) = kinds.iter().find(|k| k.kind() == c.kind) {
        return Ok(*k);
    }
    let known: Vec<&str> = kinds.iter().map(|k| k.kind()).collect();
    anyhow::bail!(
        "connectors.{name}.kind: unknown kind {:?}; this build knows {}",
        c.kind,
        if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        }
    )
}

fn with_context<T>(
    settings: &Settings,
    name: &str,
    c: &ConnectorSettings,
    f: impl FnOnce(&KindContext<'_>) -> Result<T, cuadra_sdk::ConfigError>,
) -> anyhow::Result<T> {
    context(settings, name, c, chrono::Utc::now(), f).map_err(anyhow::Error::new)
}

/// Calls `f` with what a kind may know of the settings: its table (with `schedule` put back), the company's RFCs
/// and zone, the accounts' numbers, the clock and the process environment.
fn context<T>(
    settings: &Settings,
    name: &str,
    c: &ConnectorSettings,
    now: chrono::DateTime<chrono::Utc>,
    f: impl FnOnce(&KindContext<'_>) -> T,
) -> T {
    let mut table: serde_json::Map<String, serde_json::Value> = c
        .settings
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(s) = &c.schedule {
        table.insert("schedule".into(), s.clone().into());
    }
    let accounts: BTreeMap<String, String> = settings
        .accounts
        .iter()
        .map(|(k, a)| (k.clone(), a.number.clone()))
        .collect();
    let env = |k: &str| std::env::var(k).ok();
    f(&KindContext {
        name,
        kind: &c.kind,
        table: &table,
        company_rfcs: &settings.company.rfcs,
        time_zone: &settings.company.timezone,
        accounts: &accounts,
        now,
        env: &env,
    })
}

/// File families, in the order the inbox tries them.
#[cfg_attr(not(feature = "cfdi"), allow(unused_variables))]
pub fn file_importers(settings: &Settings) -> Vec<Arc<dyn FileImporter>> {
    vec![
        Arc::new(cuadra_customers::CustomersImporter),
        #[cfg(feature = "cfdi")]
        Arc::new(cuadra_cfdi::CfdiImporter::new(settings.company_rfcs())),
        #[cfg(feature = "bank")]
        Arc::new(cuadra_bank::StatementImporter::new(None).with_limits(
            cuadra_bank::importer::Limits {
                max_file_bytes: settings.import.statement_max_file_bytes,
                max_field_bytes: settings.import.statement_max_field_bytes,
            },
        )),
    ]
}

/// The importer of one family (`customers`, `cfdi`, `statement`).
pub fn file_importer(settings: &Settings, family: &str) -> Option<Arc<dyn FileImporter>> {
    file_importers(settings)
        .into_iter()
        .find(|i| i.family() == family)
}
