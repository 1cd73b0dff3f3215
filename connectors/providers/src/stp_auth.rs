//! How an STP webhook is authenticated. STP signs nothing (bank.md §2.2), so the options are the ones integrators
//! use: an IP allow-list of STP's egress addresses, a shared secret in a header, or HTTP Basic credentials added
//! by a reverse proxy. Every configured check must pass; with none configured the connector refuses to build
//! unless `allow_unauthenticated = true`.
//!
//! The peer address reaches the handler as [`cuadra_sdk::WebhookRequest::peer`], which the daemon sets from the
//! socket; behind a trusted proxy `client_ip_header` names the header whose last entry is the client address.

use crate::sig::{basic_auth_matches, ct_eq, header};
use crate::ProviderSettings;
use cuadra_sdk::{ConnectorError, WebhookError, WebhookRequest};
use secrecy::{ExposeSecret, SecretString};
use std::net::{IpAddr, SocketAddr};

/// One allow-list entry: an address with a prefix length (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn parse(s: &str) -> Option<IpNet> {
        let s = s.trim();
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(IpNet { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                masked(u32::from(n).into(), self.prefix, 32)
                    == masked(u32::from(a).into(), self.prefix, 32)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                masked(u128::from(n), self.prefix, 128) == masked(u128::from(a), self.prefix, 128)
            }
            _ => false,
        }
    }
}

fn masked(v: u128, prefix: u8, bits: u32) -> u128 {
    let host_bits = bits.saturating_sub(u32::from(prefix));
    if host_bits >= 128 {
        0
    } else {
        v >> host_bits
    }
}

/// The configured checks.
pub(crate) struct StpAuth {
    allowed: Vec<IpNet>,
    client_ip_header: Option<String>,
    basic_user: Option<String>,
    secret_header: Option<String>,
    secret: Option<SecretString>,
}

impl StpAuth {
    pub(crate) fn from_settings(s: &ProviderSettings) -> Result<Self, ConnectorError> {
        let mut allowed = Vec::new();
        for (i, entry) in s.allowed_ips.iter().enumerate() {
            allowed.push(IpNet::parse(entry).ok_or_else(|| {
                ConnectorError::Config(format!(
                    "key allowed_ips[{i}]: expected an IP address or CIDR block such as 203.0.113.7 or 203.0.113.0/24, found {entry:?}"
                ))
            })?);
        }
        let secret = match (&s.webhook_secret, &s.webhook_secret_file) {
            (_, Some(_)) => {
                return Err(ConnectorError::Config(
                    "connector kind stp: webhook_secret_file was not resolved before building the connector".into(),
                ))
            }
            (secret, None) => secret.clone(),
        };
        if let Some(secret) = &secret {
            crate::settings::check_secret("stp", secret)?;
        }
        let basic_user = s.webhook_user.clone();
        let secret_header = s
            .secret_header
            .as_ref()
            .map(|h| h.trim().to_ascii_lowercase());
        if secret.is_some() && basic_user.is_none() && secret_header.is_none() {
            return Err(ConnectorError::Config(
                "connector kind stp: webhook_secret is set but neither webhook_user (HTTP Basic) nor secret_header says how STP sends it".into(),
            ));
        }
        if secret.is_none() && (basic_user.is_some() || secret_header.is_some()) {
            return Err(ConnectorError::Config(
                "connector kind stp: webhook_user/secret_header need webhook_secret".into(),
            ));
        }
        if allowed.is_empty() && secret.is_none() && !s.allow_unauthenticated {
            return Err(ConnectorError::Config(
                "connector kind stp: STP does not sign its webhooks; configure allowed_ips, a shared secret \
                 (webhook_secret with secret_header or webhook_user), or set allow_unauthenticated = true"
                    .into(),
            ));
        }
        Ok(StpAuth {
            allowed,
            client_ip_header: s
                .client_ip_header
                .as_ref()
                .map(|h| h.trim().to_ascii_lowercase()),
            basic_user,
            secret_header,
            secret,
        })
    }

    pub(crate) fn check(&self, req: &WebhookRequest<'_>) -> Result<(), WebhookError> {
        if !self.allowed.is_empty() {
            let ip = self.client_ip(req).ok_or_else(|| {
                WebhookError::Unauthorized(
                    "STP webhook: the caller's address is unknown, so the IP allow-list refuses it"
                        .into(),
                )
            })?;
            if !self.allowed.iter().any(|n| n.contains(ip)) {
                return Err(WebhookError::Unauthorized(format!(
                    "STP webhook: address {ip} is not in allowed_ips"
                )));
            }
        }
        if let Some(secret) = &self.secret {
            let secret = secret.expose_secret();
            if let Some(user) = &self.basic_user {
                if !basic_auth_matches(req, user, secret) {
                    return Err(WebhookError::Unauthorized(
                        "STP webhook: missing or wrong HTTP Basic credentials".into(),
                    ));
                }
            }
            if let Some(name) = &self.secret_header {
                let given = header(req, name).unwrap_or_default();
                if !ct_eq(given.trim().as_bytes(), secret.as_bytes()) {
                    return Err(WebhookError::Unauthorized(format!(
                        "STP webhook: header {name} is missing or wrong"
                    )));
                }
            }
        }
        Ok(())
    }

    fn client_ip(&self, req: &WebhookRequest<'_>) -> Option<IpAddr> {
        let Some(h) = &self.client_ip_header else {
            return req.peer;
        };
        let raw = header(req, h)?.rsplit(',').next()?.trim();
        raw.parse::<IpAddr>()
            .ok()
            .or_else(|| raw.parse::<SocketAddr>().ok().map(|s| s.ip()))
    }
}
