//! Settings: embedded defaults, then the TOML file, then `CUADRA__SECTION__KEY` environment overrides. Validated
//! at start; errors name the key. Every key is documented in `config/cuadra.example.toml`.

use anyhow::{bail, Context};
use cuadra_sdk::Rfc;
use secrecy::SecretString;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod import;
pub use import::ImportSettings;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub company: CompanySettings,
    #[serde(default)]
    pub database: DatabaseSettings,
    #[serde(default)]
    pub http: HttpSettings,
    #[serde(default)]
    pub import: ImportSettings,
    #[serde(default)]
    pub inbox: InboxSettings,
    #[serde(default)]
    pub log: LogSettings,
    #[serde(default)]
    pub outbox: OutboxSettings,
    #[serde(default)]
    pub reconcile: ReconcileSettings,
    #[serde(default)]
    pub accounts: BTreeMap<String, AccountSettings>,
    #[serde(default)]
    pub connectors: BTreeMap<String, ConnectorSettings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanySettings {
    /// RFCs whose issued CFDI are receivables (from the environment: comma-separated).
    #[serde(default, deserialize_with = "string_or_list")]
    pub rfcs: Vec<String>,
    #[serde(default = "default_tz")]
    pub timezone: String,
    #[serde(default)]
    pub name: String,
}
impl Default for CompanySettings {
    fn default() -> Self {
        CompanySettings {
            rfcs: vec![],
            timezone: default_tz(),
            name: String::new(),
        }
    }
}
fn default_tz() -> String {
    "America/Mexico_City".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    #[serde(default = "default_db_url")]
    pub url: String,
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
}
impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            url: default_db_url(),
            max_connections: default_max_connections(),
        }
    }
}
fn default_db_url() -> String {
    "sqlite://data/cuadra.db".into()
}
fn default_max_connections() -> u32 {
    4
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Largest accepted webhook body; larger ones get 413.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Bearer tokens accepted by `/api/v1` (or `api_tokens_file`, one per line).
    #[serde(default, deserialize_with = "secret_list")]
    pub api_tokens: Vec<SecretString>,
    #[serde(default)]
    pub api_tokens_file: Option<PathBuf>,
    /// Connections served at once; past it, a connection that has sent nothing yet is closed for the newcomer.
    #[serde(default = "default_max_connections_http")]
    pub max_connections: usize,
    /// Time a client has to send a request's headers (also between requests on a kept-alive connection).
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_secs: u64,
    /// A connection with no request in flight and no byte read or written for this long is closed.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_secs: u64,
    /// Longest time one request (body included) may take before it is answered 408.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_secs: u64,
}
impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            listen: default_listen(),
            max_body_bytes: default_max_body(),
            api_tokens: vec![],
            api_tokens_file: None,
            max_connections: default_max_connections_http(),
            header_read_timeout_secs: default_header_read_timeout(),
            idle_timeout_secs: default_idle_timeout(),
            request_timeout_secs: default_request_timeout(),
        }
    }
}
impl HttpSettings {
    /// The connection limit and the timeouts must be positive.
    fn validate_limits(&self) -> anyhow::Result<()> {
        if self.max_connections == 0 {
            bail!("http.max_connections: expected at least 1, found 0");
        }
        for (key, v) in [
            ("header_read_timeout_secs", self.header_read_timeout_secs),
            ("idle_timeout_secs", self.idle_timeout_secs),
            ("request_timeout_secs", self.request_timeout_secs),
        ] {
            if v == 0 {
                bail!("http.{key}: expected a number of seconds above 0, found 0");
            }
        }
        Ok(())
    }
}
fn default_max_connections_http() -> usize {
    512
}
fn default_header_read_timeout() -> u64 {
    10
}
fn default_idle_timeout() -> u64 {
    60
}
fn default_request_timeout() -> u64 {
    60
}
fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_max_body() -> usize {
    1024 * 1024
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboxSettings {
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default = "default_inbox_path")]
    pub path: PathBuf,
    /// How often the folder is looked at when no file-system notification arrives.
    #[serde(default = "default_inbox_poll")]
    pub poll_interval_secs: u64,
}
impl Default for InboxSettings {
    fn default() -> Self {
        InboxSettings {
            enabled: true,
            path: default_inbox_path(),
            poll_interval_secs: default_inbox_poll(),
        }
    }
}
fn default_true() -> bool {
    true
}
fn default_inbox_path() -> PathBuf {
    "inbox".into()
}
fn default_inbox_poll() -> u64 {
    2
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `text` or `json`.
    #[serde(default = "default_log_format")]
    pub format: String,
    /// A tracing filter such as `info` or `cuadra=debug,info`.
    #[serde(default = "default_log_level")]
    pub level: String,
}
impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            format: default_log_format(),
            level: default_log_level(),
        }
    }
}
fn default_log_format() -> String {
    "text".into()
}
fn default_log_level() -> String {
    "info".into()
}

/// `log.level` is a level (`off`, `error`, `warn`, `info`, `debug`, `trace`) or a comma-separated list of levels
/// and `target=level` directives. The tracing filter itself would take a misspelt level such as `debgu` as a target
/// name and log nothing useful, so the words are checked here.
fn validate_log_level(level: &str) -> anyhow::Result<()> {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    let is_level = |w: &str| LEVELS.contains(&w.trim().to_ascii_lowercase().as_str());
    let ok = !level.trim().is_empty()
        && level.split(',').all(|d| match d.rsplit_once('=') {
            Some((target, lvl)) => !target.trim().is_empty() && is_level(lvl),
            None => is_level(d),
        })
        && tracing_subscriber::EnvFilter::try_new(level).is_ok();
    if !ok {
        bail!(
            "log.level: expected a level (off, error, warn, info, debug, trace) or directives such as \"cuadra=debug,info\", found {level:?}"
        );
    }
    Ok(())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxSettings {
    #[serde(default = "default_retry_schedule")]
    pub retry_schedule_secs: Vec<u64>,
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// How long a worker holds a message it is delivering; a worker that dies loses it after this.
    #[serde(default = "default_claim_secs")]
    pub claim_secs: u64,
}
impl Default for OutboxSettings {
    fn default() -> Self {
        OutboxSettings {
            retry_schedule_secs: default_retry_schedule(),
            max_attempts: default_max_attempts(),
            concurrency: default_concurrency(),
            claim_secs: default_claim_secs(),
        }
    }
}
fn default_retry_schedule() -> Vec<u64> {
    vec![5, 30, 120, 600, 1800, 3600, 7200, 14400]
}
fn default_max_attempts() -> u32 {
    12
}
fn default_concurrency() -> u32 {
    4
}
fn default_claim_secs() -> u64 {
    120
}

/// `[reconcile]`: the matching engine.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileSettings {
    /// Largest shortfall (bank fee) accepted when a payment is a little less than an invoice, as a decimal in
    /// the payment's currency; "0.00" (the default) turns tolerance off.
    #[serde(default = "default_tolerance")]
    pub tolerance: String,
    /// Days before an invoice's issue date in which a payment of exactly its balance, from an identified customer
    /// with no other invoice of that balance, is taken as its prepayment (0 to 366; 0 keeps the 7-day slack only).
    #[serde(default = "default_prepayment_days")]
    pub prepayment_days: u16,
}
impl Default for ReconcileSettings {
    fn default() -> Self {
        ReconcileSettings {
            tolerance: default_tolerance(),
            prepayment_days: default_prepayment_days(),
        }
    }
}
fn default_prepayment_days() -> u16 {
    30
}
fn default_tolerance() -> String {
    "0.00".into()
}
impl ReconcileSettings {
    /// The tolerance in micro-units.
    pub fn tolerance_micros(&self) -> anyhow::Result<i64> {
        let d = cuadra_sdk::parse_decimal(self.tolerance.trim()).map_err(|_| {
            anyhow::anyhow!(
                "reconcile.tolerance: expected a decimal amount such as \"5.00\", found {:?}",
                self.tolerance
            )
        })?;
        if d.is_sign_negative() {
            bail!(
                "reconcile.tolerance: expected zero or more, found {:?}",
                self.tolerance
            );
        }
        cuadra_sdk::to_micros(d).map_err(|e| anyhow::anyhow!("reconcile.tolerance: {e}"))
    }
}

/// One of the company's own bank accounts, named for `--account NAME`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSettings {
    /// CLABE, account number or IBAN as the bank prints it on statements.
    pub number: String,
    #[serde(default = "default_currency")]
    pub currency: String,
    #[serde(default)]
    pub bank: Option<String>,
}
fn default_currency() -> String {
    "MXN".into()
}

/// `[connectors.NAME]`: `kind` plus the kind's own keys, read by the kind (`cuadra_sdk::ConnectorKind`) the
/// registry finds for `kind`.
#[derive(Debug, Clone, Deserialize)]
pub struct ConnectorSettings {
    pub kind: String,
    #[serde(default)]
    pub schedule: Option<String>,
    #[serde(flatten)]
    pub settings: BTreeMap<String, serde_json::Value>,
}

impl Settings {
    /// Loads defaults, then `file` (if given), then the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Settings> {
        Self::load_with_env(file, std::env::vars())
    }

    pub fn load_with_env(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Settings> {
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            if !path.exists() {
                bail!("config file {} does not exist", path.display());
            }
            builder = builder.add_source(
                config::File::from(path.to_path_buf()).format(config::FileFormat::Toml),
            );
        }
        let env: std::collections::HashMap<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("CUADRA__"))
            .collect();
        builder = builder.add_source(
            config::Environment::with_prefix("CUADRA")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(false)
                .source(Some(env)),
        );
        let raw = builder.build().with_context(|| match file {
            Some(p) => format!("cannot read config file {}", p.display()),
            None => "cannot read configuration".to_string(),
        })?;
        let settings: Settings = serde_path_to_error_deserialize(raw)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks values serde cannot: RFC shapes, time zone, formats, connector names.
    pub fn validate(&self) -> anyhow::Result<()> {
        for (i, r) in self.company.rfcs.iter().enumerate() {
            Rfc::parse(r).map_err(|e| anyhow::anyhow!("company.rfcs[{i}]: {e}"))?;
        }
        self.company
            .timezone
            .parse::<chrono_tz::Tz>()
            .map_err(|_| {
                anyhow::anyhow!(
                    "company.timezone: expected an IANA zone such as America/Mexico_City, found {:?}",
                    self.company.timezone
                )
            })?;
        if !matches!(self.log.format.as_str(), "text" | "json") {
            bail!(
                "log.format: expected \"text\" or \"json\", found {:?}",
                self.log.format
            );
        }
        validate_log_level(&self.log.level)?;
        if !(self.database.url.starts_with("sqlite:")
            || self.database.url.starts_with("postgres://")
            || self.database.url.starts_with("postgresql://"))
        {
            bail!("database.url: expected sqlite://PATH or postgres://..., found a value of another scheme");
        }
        self.http
            .listen
            .parse::<std::net::SocketAddr>()
            .map_err(|_| {
                anyhow::anyhow!(
                    "http.listen: expected HOST:PORT such as 127.0.0.1:8080, found {:?}",
                    self.http.listen
                )
            })?;
        if self.http.max_body_bytes == 0 {
            bail!("http.max_body_bytes: expected at least 1 (every webhook would be refused with 413), found 0");
        }
        self.http.validate_limits()?;
        self.import.validate()?;
        self.api_tokens()?;
        self.reconcile.tolerance_micros()?;
        if self.reconcile.prepayment_days > 366 {
            bail!(
                "reconcile.prepayment_days: expected 0 to 366 days, found {}",
                self.reconcile.prepayment_days
            );
        }
        if self.outbox.retry_schedule_secs.is_empty() {
            bail!("outbox.retry_schedule_secs: expected at least one delay");
        }
        for (name, acct) in &self.accounts {
            cuadra_sdk::Currency::parse(&acct.currency)
                .map_err(|e| anyhow::anyhow!("accounts.{name}.currency: {e}"))?;
        }
        for (name, c) in &self.connectors {
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                bail!("connectors.{name}: names may use letters, digits, '-' and '_' only");
            }
            if let Some(s) = &c.schedule {
                crate::scheduler::validate_cron(s)
                    .map_err(|e| anyhow::anyhow!("connectors.{name}.schedule: {e}"))?;
            }
        }
        Ok(())
    }

    pub fn company_rfcs(&self) -> Vec<Rfc> {
        self.company
            .rfcs
            .iter()
            .filter_map(|r| Rfc::parse(r).ok())
            .collect()
    }

    pub fn timezone(&self) -> chrono_tz::Tz {
        self.company
            .timezone
            .parse()
            .unwrap_or(chrono_tz::America::Mexico_City)
    }

    /// Resolves the bearer tokens accepted by the admin API (`http.api_tokens`, then `api_tokens_file`): a line
    /// `NAME:SCOPE:TOKEN` (scope `read`, `write` or `admin`) or a bare `TOKEN` (admin scope, named `api`). A token
    /// shorter than [`MIN_API_TOKEN_CHARS`], a file that cannot be read, or a file set but empty is an error.
    pub fn api_tokens(&self) -> anyhow::Result<Vec<ApiToken>> {
        let mut out = Vec::new();
        for (i, t) in self.http.api_tokens.iter().enumerate() {
            out.push(
                ApiToken::parse(secrecy::ExposeSecret::expose_secret(t))
                    .with_context(|| format!("http.api_tokens[{i}]"))?,
            );
        }
        if let Some(p) = &self.http.api_tokens_file {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("http.api_tokens_file: cannot read {}", p.display()))?;
            let before = out.len();
            for (i, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                out.push(ApiToken::parse(line).with_context(|| {
                    format!("http.api_tokens_file: {} line {}", p.display(), i + 1)
                })?);
            }
            if out.len() == before {
                bail!("http.api_tokens_file: {} holds no token", p.display());
            }
        }
        Ok(out)
    }
}

/// The shortest admin API token accepted, in characters.
pub const MIN_API_TOKEN_CHARS: usize = 24;

/// What an admin API token may do; each scope includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ApiScope {
    /// Reports and lists.
    Read,
    /// Also match, unmatch and reconcile.
    Write,
    /// Also retry and drop outbox messages.
    Admin,
}

impl ApiScope {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiScope::Read => "read",
            ApiScope::Write => "write",
            ApiScope::Admin => "admin",
        }
    }
}

/// One admin API token: its name (the audit actor), its scope and the secret itself.
#[derive(Debug, Clone)]
pub struct ApiToken {
    pub name: String,
    pub scope: ApiScope,
    pub secret: SecretString,
}

impl ApiToken {
    /// `NAME:SCOPE:TOKEN`, or a bare `TOKEN` (admin, named `api`). The error never contains the token.
    fn parse(line: &str) -> anyhow::Result<ApiToken> {
        let parts: Vec<&str> = line.splitn(3, ':').collect();
        let scoped = match parts.as_slice() {
            [name, scope, token] => {
                let scope = match *scope {
                    "read" => Some(ApiScope::Read),
                    "write" => Some(ApiScope::Write),
                    "admin" => Some(ApiScope::Admin),
                    _ => None,
                };
                scope.map(|s| (name.trim(), s, token.trim()))
            }
            _ => None,
        };
        let (name, scope, token) = scoped.unwrap_or(("api", ApiScope::Admin, line.trim()));
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        {
            bail!("expected NAME:SCOPE:TOKEN with a name of letters, digits, '-', '_' or '.'");
        }
        let chars = token.chars().count();
        if chars < MIN_API_TOKEN_CHARS {
            bail!(
                "token {name}: expected at least {MIN_API_TOKEN_CHARS} characters, found {chars}"
            );
        }
        Ok(ApiToken {
            name: name.to_string(),
            scope,
            secret: SecretString::from(token.to_string()),
        })
    }
}

/// A list in TOML, or a comma-separated string from the environment.
fn string_or_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        List(Vec<String>),
        One(String),
    }
    Ok(match Either::deserialize(d)? {
        Either::List(v) => v,
        Either::One(s) => s
            .split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect(),
    })
}

fn secret_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<SecretString>, D::Error> {
    Ok(string_or_list(d)?
        .into_iter()
        .map(SecretString::from)
        .collect())
}

fn serde_path_to_error_deserialize(raw: config::Config) -> anyhow::Result<Settings> {
    raw.try_deserialize::<Settings>().map_err(|e| {
        // The config crate names the key in its message (e.g. `unknown field `x`, expected ... for key `http``).
        anyhow::anyhow!("invalid configuration: {e}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn defaults_load_without_file() {
        let s = Settings::load_with_env(None, env(&[])).unwrap();
        assert_eq!(s.database.url, "sqlite://data/cuadra.db");
        assert_eq!(s.http.listen, "127.0.0.1:8080");
        assert_eq!(s.inbox.path, PathBuf::from("inbox"));
    }

    #[test]
    fn environment_overrides_and_lists() {
        let s = Settings::load_with_env(
            None,
            env(&[
                ("CUADRA__COMPANY__RFCS", "EKU9003173C9,AAA010101AAA"),
                ("CUADRA__DATABASE__URL", "postgres://x/y"),
                ("CUADRA__LOG__FORMAT", "json"),
            ]),
        )
        .unwrap();
        assert_eq!(s.company.rfcs, vec!["EKU9003173C9", "AAA010101AAA"]);
        assert_eq!(s.database.url, "postgres://x/y");
        assert_eq!(s.log.format, "json");
    }

    /// `reconcile.prepayment_days`: 30 by default, read from the environment, more than 366 refused naming the key.
    #[test]
    fn prepayment_days_default_environment_and_range() {
        let s = Settings::load_with_env(None, env(&[])).unwrap();
        assert_eq!(s.reconcile.prepayment_days, 30);
        let s = Settings::load_with_env(None, env(&[("CUADRA__RECONCILE__PREPAYMENT_DAYS", "0")]))
            .unwrap();
        assert_eq!(s.reconcile.prepayment_days, 0);
        let e =
            Settings::load_with_env(None, env(&[("CUADRA__RECONCILE__PREPAYMENT_DAYS", "400")]))
                .unwrap_err();
        assert!(
            format!("{e:#}").contains("reconcile.prepayment_days"),
            "{e:#}"
        );
    }

    #[test]
    fn errors_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[http]\nlisten = \"nope\"\n").unwrap();
        let e = Settings::load_with_env(Some(&p), env(&[])).unwrap_err();
        assert!(format!("{e:#}").contains("http.listen"), "{e:#}");
        std::fs::write(&p, "[http]\nlisen = \"x\"\n").unwrap();
        let e = Settings::load_with_env(Some(&p), env(&[])).unwrap_err();
        assert!(format!("{e:#}").contains("lisen"), "{e:#}");
        let e = Settings::load_with_env(None, env(&[("CUADRA__COMPANY__RFCS", "X")])).unwrap_err();
        assert!(format!("{e:#}").contains("company.rfcs[0]"), "{e:#}");
    }
}
