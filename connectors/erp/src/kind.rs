//! The ERP kinds as the daemon sees them: `http` ([`HttpSettings`] → sink, source, webhook, each when its keys
//! are set) and `odoo` ([`OdooSettings`] → source and sink sharing one client).

use crate::{HttpSettings, OdooSettings};
use cuadra_sdk::{ConfigError, ConnectorKind, KindContext, Parts};
use serde_json::Value;
use std::sync::Arc;

/// `kind = "http"`: any ERP, iPaaS or internal system.
pub struct HttpKind;

/// `kind = "odoo"`: Odoo 16–18 over JSON-RPC.
pub struct OdooKind;

impl ConnectorKind for HttpKind {
    fn kind(&self) -> &'static str {
        "http"
    }

    fn build(&self, ctx: &KindContext<'_>) -> Result<Parts, ConfigError> {
        let s: HttpSettings = ctx.settings_from(Value::Object(ctx.table_with_kind()))?;
        let built = crate::build_http(&s).map_err(|e| ctx.error(None, e))?;
        Ok(Parts {
            source: built.source.map(|x| Arc::new(x) as _),
            sink: built.sink.map(|x| Arc::new(x) as _),
            webhook: built.webhook.map(|x| Arc::new(x) as _),
            default_schedule: None,
        })
    }
}

impl ConnectorKind for OdooKind {
    fn kind(&self) -> &'static str {
        "odoo"
    }

    fn build(&self, ctx: &KindContext<'_>) -> Result<Parts, ConfigError> {
        let s: OdooSettings = ctx.settings_from(Value::Object(ctx.table_with_kind()))?;
        let built = crate::build_odoo(&s).map_err(|e| ctx.error(None, e))?;
        Ok(Parts {
            source: Some(Arc::new(built.source)),
            sink: Some(Arc::new(built.sink)),
            ..Default::default()
        })
    }
}
