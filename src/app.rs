//! The application: settings, the ledger and the configured connectors, built once and shared by the daemon, the
//! CLI and the tests.

use crate::config::Settings;
use crate::registry::{self, Connector};
use crate::store::Store;
use cuadra_sdk::{CompanyContext, FileImporter};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct App {
    pub settings: Arc<Settings>,
    pub store: Store,
    connectors: Arc<Vec<Connector>>,
    run_locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl App {
    /// Opens (and migrates) the database and builds every configured connector.
    pub async fn build(settings: Settings) -> anyhow::Result<App> {
        let connectors = registry::build_connectors(&settings)?;
        let store = Store::open(&settings.database.url, settings.database.max_connections)
            .await?
            .with_timezone(settings.timezone());
        Ok(App {
            settings: Arc::new(settings),
            store,
            connectors: Arc::new(connectors),
            run_locks: Arc::default(),
        })
    }

    /// Uses an injected clock (tests).
    pub fn with_clock(mut self, clock: crate::store::Clock) -> App {
        self.store = self.store.with_clock(clock);
        self
    }

    pub fn connectors(&self) -> &[Connector] {
        &self.connectors
    }

    pub fn connector(&self, name: &str) -> Option<&Connector> {
        self.connectors.iter().find(|c| c.name == name)
    }

    pub fn file_importers(&self) -> Vec<Arc<dyn FileImporter>> {
        registry::file_importers(&self.settings)
    }

    /// The lock that keeps two runs of one connector from overlapping.
    pub fn run_lock(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.run_locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(name.to_string()).or_default().clone()
    }

    /// What connectors may know about the company: its RFCs and its own receiving accounts.
    pub async fn company_context(&self) -> anyhow::Result<CompanyContext> {
        let own_accounts = self
            .settings
            .accounts
            .values()
            .map(|a| crate::store::normalize_account(&a.number))
            .collect();
        Ok(CompanyContext {
            rfcs: self.settings.company.rfcs.clone(),
            own_accounts,
            now: self.store.now(),
        })
    }

    /// Called after anything new reached the ledger.
    pub fn after_import(&self) {}
}
