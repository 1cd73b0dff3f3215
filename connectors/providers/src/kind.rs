//! The provider kinds as the daemon sees them (`stripe`, `conekta`, `openpay`, `mercadopago`, `stp`): each reads
//! [`ProviderSettings`] from its table (the company's time zone when the table gives none), resolves `*_file`
//! secrets and builds its webhook handler with [`crate::build`].

use crate::ProviderSettings;
use cuadra_sdk::{ConfigError, ConnectorKind, KindContext, Parts};
use serde_json::Value;
use std::sync::Arc;

/// One provider kind; the five are the constants below.
pub struct ProviderKind(&'static str);

pub const STRIPE: ProviderKind = ProviderKind("stripe");
pub const CONEKTA: ProviderKind = ProviderKind("conekta");
pub const OPENPAY: ProviderKind = ProviderKind("openpay");
pub const MERCADOPAGO: ProviderKind = ProviderKind("mercadopago");
pub const STP: ProviderKind = ProviderKind("stp");

impl ConnectorKind for ProviderKind {
    fn kind(&self) -> &'static str {
        self.0
    }

    fn build(&self, ctx: &KindContext<'_>) -> Result<Parts, ConfigError> {
        let mut table = ctx.table_with_kind();
        table.remove("schedule");
        if !table.contains_key("time_zone") {
            table.insert("time_zone".into(), ctx.time_zone.into());
        }
        let mut ps: ProviderSettings = ctx.settings_from(Value::Object(table))?;
        ps.resolve_secret_files().map_err(|e| ctx.error(None, e))?;
        let handler = crate::build(self.0, &ps).map_err(|e| ctx.error(None, e))?;
        Ok(Parts {
            webhook: Some(Arc::from(handler)),
            ..Default::default()
        })
    }
}
