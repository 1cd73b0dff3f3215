//! `kind = "sat"` as the daemon sees it: the settings with the FIEL password resolved (from `password_file` or
//! the `CUADRA__CONNECTORS__NAME__PASSWORD` environment variable, never from the TOML), the source, the doctor
//! check of the FIEL, the `cuadra sync` progress lines, and the packages it delivers, opened by the CFDI importer.

use crate::{Fiel, SatSettings, SatSource};
use cuadra_sdk::{Checkpoint, ConfigError, ConnectorKind, Delivery, Doctor, KindContext, Parts};
use secrecy::SecretString;
use serde_json::Value;
use std::sync::Arc;

/// The SAT Descarga Masiva connector.
pub struct SatKind;

impl SatKind {
    /// Reads the settings and resolves the password.
    pub fn settings(&self, ctx: &KindContext<'_>) -> Result<SatSettings, ConfigError> {
        let mut table = ctx.table.clone();
        let env_var = ctx.env_var("password");
        let env_password = ctx.env_override("password");
        if let Some(p) = table.remove("password") {
            // The environment override lands in the same table; a password written in the TOML is refused.
            if env_password.as_deref() != p.as_str() {
                return Err(ctx.error(
                    Some("password"),
                    format!(
                        "the FIEL password must not be written in the configuration file; use password_file or \
                         the environment variable {env_var}"
                    ),
                ));
            }
        }
        let mut s: SatSettings = ctx.settings_from(Value::Object(table))?;
        if let Some(p) = env_password {
            s.password = Some(SecretString::from(p));
        }
        s.resolve_password_file()
            .map_err(|e| ctx.error(Some("password_file"), e))?;
        if s.password.is_none() {
            return Err(ctx.error(
                None,
                format!("the FIEL password is missing; set password_file or {env_var}"),
            ));
        }
        Ok(s)
    }
}

impl ConnectorKind for SatKind {
    fn kind(&self) -> &'static str {
        "sat"
    }

    fn build(&self, ctx: &KindContext<'_>) -> Result<Parts, ConfigError> {
        let s = self.settings(ctx)?;
        let schedule = s.schedule.clone();
        Ok(Parts {
            source: Some(Arc::new(SatSource::new(s))),
            default_schedule: Some(schedule),
            ..Default::default()
        })
    }

    /// The FIEL's RFC, serial and days to expiry (warning under 30); failing when the RFC is not the company's.
    fn doctor(&self, ctx: &KindContext<'_>) -> Doctor {
        let name = ctx.name;
        let fail = |line: String| Doctor {
            ok: false,
            lines: vec![line],
        };
        let s = match self.settings(ctx) {
            Ok(s) => s,
            Err(e) => return fail(format!("fail  {name}: {e}")),
        };
        let Some(password) = s.password.as_ref() else {
            return fail(format!("fail  {name}: the FIEL password is missing"));
        };
        let now = ctx.now;
        match Fiel::load(&s.certificate_path, &s.key_path, password, now) {
            Ok(f) => {
                let days = f.days_to_expiry(now);
                let mut lines = vec![format!(
                    "ok    {name}: FIEL of RFC {} serial {} valid until {} ({days} days)",
                    f.rfc(),
                    f.serial_number(),
                    f.not_after().format("%Y-%m-%d")
                )];
                if days < 30 {
                    lines.push(format!(
                        "warn  {name}: the FIEL expires in {days} days; renew it at the SAT"
                    ));
                }
                if !ctx
                    .company_rfcs
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(f.rfc()))
                {
                    lines.push(format!(
                        "fail  {name}: the FIEL's RFC {} is not one of company.rfcs",
                        f.rfc()
                    ));
                    return Doctor { ok: false, lines };
                }
                Doctor { ok: true, lines }
            }
            Err(e) => fail(format!("fail  {name}: {e}")),
        }
    }

    /// One line per download request: key, state, packages done, polls, last SAT code.
    fn describe(&self, checkpoint: &Checkpoint) -> Vec<String> {
        crate::describe(checkpoint)
            .into_iter()
            .map(|st| {
                format!(
                    "  {:<48} {:?} packages {}/{} polls {} last code {}",
                    st.key,
                    st.state,
                    st.packages_done,
                    st.packages_total,
                    st.polls,
                    st.last_code
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "-".into())
                )
            })
            .collect()
    }

    /// CFDI and metadata packages are opened by the CFDI importer; their documents are stored before the package.
    fn opened_by(&self, delivery: &Delivery) -> Option<&'static str> {
        delivery.kind.starts_with("sat-package").then_some("cfdi")
    }
}
