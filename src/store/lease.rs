//! Database leases: a named lease held by one holder at a time across processes and instances, renewed while
//! held, expiring when its holder dies.

use super::{ts, Store};
use anyhow::Context;

impl Store {
    /// Takes (or renews) the lease `name` for `holder` until `ttl` from now; false when another live holder has it.
    pub async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> anyhow::Result<bool> {
        let now = self.now();
        let until = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(10));
        let rows = self
            .write_fetch(sqlx::query(
            "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE leases.expires_at < $4 OR leases.holder = excluded.holder RETURNING holder",
        )
        .bind(name)
        .bind(holder)
        .bind(ts(until))
        .bind(ts(now)))
            .await
            .context("taking a lease")?;
        Ok(!rows.is_empty())
    }

    /// Gives the lease back (only if `holder` still has it).
    pub async fn release_lease(&self, name: &str, holder: &str) -> anyhow::Result<()> {
        self.write_one(
            sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
                .bind(name)
                .bind(holder),
        )
        .await
        .context("releasing a lease")?;
        Ok(())
    }
}

/// How long a held lease lasts without renewal, and how often [`HeldLease`] renews it: a holder that died with its
/// process (SIGKILL, power loss) keeps the next one waiting at most `LEASE_TTL`.
pub const LEASE_TTL: std::time::Duration = std::time::Duration::from_secs(30);
const LEASE_RENEW: std::time::Duration = std::time::Duration::from_secs(5);

/// A lease taken with [`Store::hold_lease`], renewed on its own task until [`HeldLease::release`] (or, if dropped,
/// left to expire).
pub struct HeldLease {
    store: Store,
    name: String,
    holder: String,
    heartbeat: tokio::task::JoinHandle<()>,
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

impl HeldLease {
    /// Renews the lease now; false if another holder has taken it (this holder stalled past it).
    pub async fn renew(&self) -> anyhow::Result<bool> {
        self.store
            .try_lease(&self.name, &self.holder, LEASE_TTL)
            .await
    }

    /// Gives the lease back.
    pub async fn release(self) {
        self.heartbeat.abort();
        if let Err(e) = self.store.release_lease(&self.name, &self.holder).await {
            tracing::warn!(lease = %self.name, error = %e, "a lease could not be released; it expires by itself");
        }
    }
}

impl Store {
    /// Takes the lease `name` for `holder` if it is free (see [`Store::try_lease`]) and keeps it renewed; `None`
    /// when another live holder has it.
    pub async fn hold_lease(&self, name: &str, holder: &str) -> anyhow::Result<Option<HeldLease>> {
        if !self.try_lease(name, holder, LEASE_TTL).await? {
            return Ok(None);
        }
        let (store, lease, who) = (self.clone(), name.to_string(), holder.to_string());
        let heartbeat = tokio::spawn(async move {
            loop {
                tokio::time::sleep(LEASE_RENEW).await;
                match store.try_lease(&lease, &who, LEASE_TTL).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(lease = %lease, "a lease was lost (its holder stalled past it)")
                    }
                    Err(e) => tracing::warn!(lease = %lease, error = %e, "renewing a lease failed"),
                }
            }
        });
        Ok(Some(HeldLease {
            store: self.clone(),
            name: name.to_string(),
            holder: holder.to_string(),
            heartbeat,
        }))
    }

    /// [`Store::hold_lease`], waiting while another holder has it (a dead holder's lease runs out in `LEASE_TTL`).
    pub async fn wait_for_lease(&self, name: &str, holder: &str) -> anyhow::Result<HeldLease> {
        let mut told = false;
        loop {
            if let Some(held) = self.hold_lease(name, holder).await? {
                return Ok(held);
            }
            if !told {
                tracing::info!(lease = %name, "waiting for another process or instance to finish");
                told = true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
}
