//! The SAT Descarga Masiva connector (`kind = "sat"`): settings, the FIEL password (from `password_file` or the
//! `CUADRA__CONNECTORS__NAME__PASSWORD` environment variable, never from the TOML), and its doctor check.

use crate::config::{ConnectorSettings, Settings};
use crate::registry::Connector;
use cuadra_sat::{SatSettings, SatSource};
use secrecy::SecretString;
use std::sync::Arc;

fn env_password_var(name: &str) -> String {
    format!("CUADRA__CONNECTORS__{}__PASSWORD", name.to_uppercase())
}

/// Reads the settings and resolves the password.
pub fn settings(name: &str, c: &ConnectorSettings) -> anyhow::Result<SatSettings> {
    let mut table = super::table(c, false);
    let env_password = std::env::var(env_password_var(name)).ok();
    if let Some(map) = table.as_object_mut() {
        if let Some(p) = map.remove("password") {
            // The environment override lands in the same table; a password written in the TOML is refused.
            if env_password.as_deref() != p.as_str() {
                anyhow::bail!(
                    "connectors.{name}.password: the FIEL password must not be written in the configuration file; \
                     use password_file or the environment variable {}",
                    env_password_var(name)
                );
            }
        }
        // Environment overrides arrive as strings (`CUADRA__CONNECTORS__SAT__RECIBIDOS=true`).
        if let Some(v) = map.get_mut("window_days") {
            if let Some(n) = v.as_str().and_then(|s| s.trim().parse::<u64>().ok()) {
                *v = n.into();
            }
        }
        if let Some(v) = map.get_mut("recibidos") {
            if let Some(b) = v.as_str().and_then(|s| s.trim().parse::<bool>().ok()) {
                *v = b.into();
            }
        }
    }
    let mut s: SatSettings =
        serde_json::from_value(table).map_err(|e| anyhow::anyhow!("connectors.{name}: {e}"))?;
    if let Some(p) = env_password {
        s.password = Some(SecretString::from(p));
    }
    s.resolve_password_file()
        .map_err(|e| anyhow::anyhow!("connectors.{name}.password_file: {e}"))?;
    if s.password.is_none() {
        anyhow::bail!(
            "connectors.{name}: the FIEL password is missing; set password_file or {}",
            env_password_var(name)
        );
    }
    crate::scheduler::validate_cron(&s.schedule)
        .map_err(|e| anyhow::anyhow!("connectors.{name}.schedule: {e}"))?;
    Ok(s)
}

pub fn build(name: &str, c: &ConnectorSettings, _settings: &Settings) -> anyhow::Result<Connector> {
    let s = settings(name, c)?;
    let schedule = s.schedule.clone();
    Ok(Connector {
        source: Some(Arc::new(SatSource::new(s))),
        default_schedule: Some(schedule),
        ..Default::default()
    })
}

/// `cuadra doctor` lines for a SAT connector: the FIEL's RFC, serial and days to expiry (warning under 30).
pub fn doctor(
    name: &str,
    c: &ConnectorSettings,
    settings: &Settings,
    now: chrono::DateTime<chrono::Utc>,
) -> (bool, Vec<String>) {
    let s = match self::settings(name, c) {
        Ok(s) => s,
        Err(e) => return (false, vec![format!("fail  {name}: {e:#}")]),
    };
    let Some(password) = s.password.as_ref() else {
        return (
            false,
            vec![format!("fail  {name}: the FIEL password is missing")],
        );
    };
    match cuadra_sat::fiel::Fiel::load(&s.certificate_path, &s.key_path, password, now) {
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
            if !settings
                .company
                .rfcs
                .iter()
                .any(|r| r.eq_ignore_ascii_case(f.rfc()))
            {
                lines.push(format!(
                    "fail  {name}: the FIEL's RFC {} is not one of company.rfcs",
                    f.rfc()
                ));
                return (false, lines);
            }
            (true, lines)
        }
        Err(e) => (false, vec![format!("fail  {name}: {e}")]),
    }
}
