//! The use cases the command line and the admin API share: import files, reconcile now, a manual match, an
//! unmatch. Each front end turns its own input (arguments, or a JSON body) into one of these calls and renders what
//! comes back (text and an exit code, or a status code and JSON); the steps themselves are written here once. The
//! daemon's reconciliation after imports runs [`App::reconcile_now`] too.

use super::App;
use crate::reconcile::Summary;
use crate::store::{IngestSummary, ManualMatch};
use cuadra_sdk::ImportOptions;
use serde::Deserialize;
use std::path::PathBuf;

/// Why an import did not run.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The paths given are wrong (one does not exist, a folder cannot be read): bad input.
    #[error("{0:#}")]
    Input(anyhow::Error),
    /// The import itself failed (no importer for the family, the database).
    #[error("{0:#}")]
    Failed(anyhow::Error),
}

/// A manual decision: the payment pays these invoices. It is also the API's body for `POST /api/v1/match`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchRequest {
    pub payment_id: i64,
    pub invoices: Vec<MatchLine>,
}

/// One invoice of a manual match: its UUID, SERIE-FOLIO or folio, and optionally how much of the payment it takes
/// (a decimal; without one, as much as both allow).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchLine {
    pub invoice: String,
    #[serde(default)]
    pub amount: Option<String>,
}

/// Why a manual match was not recorded. `line` is the index of the offending line in
/// [`MatchRequest::invoices`].
#[derive(Debug, thiserror::Error)]
pub enum MatchError {
    #[error("invoices[{line}].amount: {amount:?} is not a positive decimal")]
    Amount { line: usize, amount: String },
    #[error("invoice {invoice}: not found")]
    InvoiceNotFound { line: usize, invoice: String },
    /// Looking an invoice up failed.
    #[error("{0:#}")]
    Lookup(anyhow::Error),
    /// The ledger refused the decision (no such payment, more than the payment or the invoice allows, ...).
    #[error("{0:#}")]
    Refused(anyhow::Error),
}

impl App {
    /// Imports files or folders of one family (`cfdi`, `statement`, ...); `source` names who delivered them in the
    /// raw inbox. The paths are kept as given, so that files found inside folders are told apart from files named
    /// explicitly.
    pub async fn import(
        &self,
        family: &str,
        paths: &[PathBuf],
        opts: &ImportOptions,
        source: &str,
    ) -> Result<IngestSummary, ImportError> {
        let Some(importer) = self
            .file_importers()
            .into_iter()
            .find(|i| i.family() == family)
        else {
            return Err(ImportError::Failed(anyhow::anyhow!(
                "no importer for {family}"
            )));
        };
        crate::import::expand(paths).map_err(ImportError::Input)?;
        crate::import::import_paths(&self.store, importer, paths, opts, source)
            .await
            .map_err(ImportError::Failed)
    }

    /// Matches every undecided payment with the invoices it pays, with the options from the settings. A run that
    /// writes first links the documents (credit notes, payment complements, SAT status); a dry run decides and
    /// writes nothing.
    pub async fn reconcile(&self, dry_run: bool) -> anyhow::Result<Summary> {
        let options = crate::reconcile::Options::from_settings(&self.settings)?;
        if !dry_run {
            self.store.link_documents().await?;
        }
        crate::reconcile::run(&self.store, &options, dry_run).await
    }

    /// Links documents and reconciles, writing (what the daemon does after imports).
    pub async fn reconcile_now(&self) -> anyhow::Result<Summary> {
        self.reconcile(false).await
    }

    /// Records a manual decision as `actor`: each line's amount is checked and its invoice found, in order, then
    /// the allocations are written together (or none).
    pub async fn manual_match(
        &self,
        request: &MatchRequest,
        actor: &str,
    ) -> Result<ManualMatch, MatchError> {
        let mut lines = Vec::with_capacity(request.invoices.len());
        for (i, l) in request.invoices.iter().enumerate() {
            let amount = match &l.amount {
                None => None,
                Some(a) => Some(positive_micros(a).ok_or_else(|| MatchError::Amount {
                    line: i,
                    amount: a.clone(),
                })?),
            };
            match self.store.find_invoice_ref(&l.invoice).await {
                Ok(Some(id)) => lines.push((id, amount)),
                Ok(None) => {
                    return Err(MatchError::InvoiceNotFound {
                        line: i,
                        invoice: l.invoice.clone(),
                    })
                }
                Err(e) => return Err(MatchError::Lookup(e)),
            }
        }
        self.store
            .manual_match(request.payment_id, &lines, actor)
            .await
            .map_err(MatchError::Refused)
    }

    /// Removes an allocation as `actor`; the engine will not propose that pair again.
    pub async fn unmatch(&self, allocation_id: i64, actor: &str) -> anyhow::Result<()> {
        self.store.unmatch(allocation_id, actor).await
    }
}

/// A decimal amount as micros, if it is one and positive.
fn positive_micros(text: &str) -> Option<i64> {
    cuadra_sdk::parse_decimal(text)
        .ok()
        .and_then(|d| cuadra_sdk::to_micros(d).ok())
        .filter(|m| *m > 0)
}
