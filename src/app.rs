//! The application: settings, the ledger and the configured connectors, built once and shared by the daemon, the
//! CLI and the tests. The use cases both front ends run (import, reconcile, manual match, unmatch) are its methods,
//! in `app/usecase.rs`.

mod usecase;

pub use usecase::{ImportError, MatchError, MatchLine, MatchRequest};

use crate::config::Settings;
use crate::registry::{self, Connector};
use crate::store::Store;
use cuadra_sdk::{CompanyContext, FileImporter};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct App {
    pub settings: Arc<Settings>,
    pub store: Store,
    connectors: Arc<Vec<Connector>>,
    run_locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    /// This process's identity for leases shared with other instances.
    pub instance_id: Arc<str>,
    reconcile_trigger: Arc<ReconcileTrigger>,
}

/// How long after an import the daemon waits for more before reconciling.
const RECONCILE_DEBOUNCE: std::time::Duration = std::time::Duration::from_millis(500);

/// Debounce state of the background reconciliation.
#[derive(Default)]
struct ReconcileTrigger {
    dirty: AtomicBool,
    worker: AtomicBool,
}

impl App {
    /// Opens (and migrates) the database and builds every configured connector.
    pub async fn build(settings: Settings) -> anyhow::Result<App> {
        Self::build_with_kinds(settings, &registry::connector_kinds()).await
    }

    /// Like [`App::build`], knowing the given connector kinds (the registry's plus an embedding program's or a
    /// test's own).
    pub async fn build_with_kinds(
        settings: Settings,
        kinds: &[&'static dyn cuadra_sdk::ConnectorKind],
    ) -> anyhow::Result<App> {
        let connectors = registry::build_connectors_with(&settings, kinds)?;
        let store = Store::open(&settings.database.url, settings.database.max_connections)
            .await?
            .with_timezone(settings.timezone());
        Ok(App {
            settings: Arc::new(settings),
            store,
            connectors: Arc::new(connectors),
            run_locks: Arc::default(),
            instance_id: Arc::from(format!(
                "{}-{}",
                std::process::id(),
                uuid::Uuid::now_v7().simple()
            )),
            reconcile_trigger: Arc::default(),
        })
    }

    /// Uses an injected clock (tests).
    pub fn with_clock(mut self, clock: crate::store::Clock) -> App {
        self.store = self.store.with_clock(clock);
        self
    }

    /// Adds a connector built in code (embedding programs and tests).
    pub fn with_connector(mut self, connector: Connector) -> App {
        let mut list: Vec<Connector> = self.connectors.as_ref().clone();
        list.push(connector);
        self.connectors = Arc::new(list);
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

    /// Called after anything new reached the ledger: links documents and reconciles in the background, debounced,
    /// never two runs at once.
    pub fn after_import(&self) {
        let t = &self.reconcile_trigger;
        t.dirty.store(true, Ordering::SeqCst);
        if t.worker.swap(true, Ordering::SeqCst) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            t.worker.store(false, Ordering::SeqCst);
            return;
        };
        let app = self.clone();
        handle.spawn(async move {
            let t = app.reconcile_trigger.clone();
            loop {
                tokio::time::sleep(RECONCILE_DEBOUNCE).await;
                if !t.dirty.swap(false, Ordering::SeqCst) {
                    t.worker.store(false, Ordering::SeqCst);
                    // An import that arrived between the two lines above found the worker still set: take it.
                    if t.dirty.load(Ordering::SeqCst) && !t.worker.swap(true, Ordering::SeqCst) {
                        continue;
                    }
                    return;
                }
                let lock = app.run_lock("reconcile");
                let _guard = lock.lock().await;
                match app.reconcile_now().await {
                    Ok(s) => tracing::info!(
                        allocations = s.allocations,
                        links = s.same_money_links,
                        exceptions = s.exceptions,
                        ms = (s.load_ms + s.decide_ms + s.write_ms) as u64,
                        "reconciled"
                    ),
                    Err(e) => tracing::error!(error = %format!("{e:#}"), "reconciliation failed"),
                }
            }
        });
    }
}
