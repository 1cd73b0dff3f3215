//! A toy connector kind (`kind = "toy"`), test-only: the smallest crate that implements the connector contract,
//! as "Adding a connector" in the README walks through it. Each pull delivers `count` customers named
//! `{prefix} {i}` (ERP ids `toy-{i}`) and counts the pulls in its checkpoint.
//!
//! # Layout
//! - [`ToyKind`]: the kind (settings, build, doctor, describe); `ToySource`: the source it builds.

use async_trait::async_trait;
use cuadra_sdk::{
    Batch, Checkpoint, CompanyContext, ConfigError, ConnectorError, ConnectorKind, CustomerRecord,
    Delivery, Doctor, KindContext, Parts, Record, Source,
};
use serde::Deserialize;
use std::sync::Arc;

/// The keys of a `[connectors.NAME]` table of kind `toy`. Unknown keys are errors.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToySettings {
    /// Customers delivered per pull.
    pub count: u32,
    /// Their names' prefix (default `Toy`).
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// When the daemon pulls (default every minute).
    #[serde(default)]
    pub schedule: Option<String>,
}

fn default_prefix() -> String {
    "Toy".into()
}

/// `kind = "toy"`.
pub struct ToyKind;

impl ConnectorKind for ToyKind {
    fn kind(&self) -> &'static str {
        "toy"
    }

    fn build(&self, ctx: &KindContext<'_>) -> Result<Parts, ConfigError> {
        let s: ToySettings = ctx.settings()?;
        if s.count == 0 {
            return Err(ctx.error(Some("count"), "expected at least 1"));
        }
        Ok(Parts {
            source: Some(Arc::new(ToySource {
                count: s.count,
                prefix: s.prefix,
            })),
            default_schedule: Some(s.schedule.unwrap_or_else(|| "0 * * * * *".into())),
            ..Default::default()
        })
    }

    fn doctor(&self, ctx: &KindContext<'_>) -> Doctor {
        match ctx.settings::<ToySettings>() {
            Ok(s) => Doctor {
                ok: true,
                lines: vec![format!(
                    "ok    {}: toy connector delivering {} customers",
                    ctx.name, s.count
                )],
            },
            Err(e) => Doctor {
                ok: false,
                lines: vec![format!("fail  {}: {e}", ctx.name)],
            },
        }
    }

    fn describe(&self, checkpoint: &Checkpoint) -> Vec<String> {
        vec![format!("  pulls {}", pulls(Some(checkpoint)))]
    }
}

fn pulls(checkpoint: Option<&Checkpoint>) -> u64 {
    checkpoint
        .and_then(|c| c.0.get("pulls"))
        .and_then(|v| v.as_u64())
        .unwrap_or(0)
}

struct ToySource {
    count: u32,
    prefix: String,
}

#[async_trait]
impl Source for ToySource {
    async fn pull(
        &self,
        _ctx: &CompanyContext,
        checkpoint: Option<Checkpoint>,
    ) -> Result<Batch, ConnectorError> {
        let deliveries = (0..self.count)
            .map(|i| {
                let record = CustomerRecord {
                    rfc: None,
                    name: format!("{} {i}", self.prefix),
                    emails: vec![],
                    phone: None,
                    whatsapp: None,
                    credit_days: None,
                    credit_limit: None,
                    currency: None,
                    payment_reference: None,
                    accounts: vec![],
                    language: None,
                    erp_id: Some(format!("toy-{i}")),
                    group: None,
                };
                Delivery {
                    kind: "toy".into(),
                    external_id: format!("toy-{i}"),
                    raw: record.name.clone().into_bytes(),
                    records: vec![Record::Customer(record)],
                }
            })
            .collect();
        Ok(Batch {
            deliveries,
            checkpoint: Checkpoint(serde_json::json!({ "pulls": pulls(checkpoint.as_ref()) + 1 })),
            more: false,
        })
    }
}
