//! `kind = "statements"`: a folder the bank or an SFTP job drops statements into, bound to one of the company's
//! accounts and a format. Each run reads the files it has not read (by name and content hash, kept in the
//! checkpoint) with the same parsers as `cuadra import statement`; files stay where they are.

use crate::StatementImporter;
use async_trait::async_trait;
use cuadra_sdk::{
    Batch, Checkpoint, CompanyContext, ConfigError, ConnectorError, ConnectorKind, ImportOptions,
    KindContext, Parts, Source,
};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Files read per run before asking to be called again.
const FILES_PER_BATCH: usize = 20;

/// The statements-folder connector.
pub struct StatementsKind;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatementsSettings {
    /// The folder to read.
    path: PathBuf,
    /// `[accounts.NAME]` (or the account number itself) the statements belong to.
    #[serde(default)]
    account: Option<String>,
    /// `auto` (default) or a format name as for `cuadra import statement --format`.
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    schedule: Option<String>,
    /// Largest file read, in bytes (default 64 MiB); a larger file is refused once and logged.
    #[serde(default)]
    max_file_bytes: Option<u64>,
    /// Longest text field kept, in bytes (default 4 KiB); a longer one is cut with a warning.
    #[serde(default)]
    max_field_bytes: Option<usize>,
}

impl ConnectorKind for StatementsKind {
    fn kind(&self) -> &'static str {
        "statements"
    }

    fn build(&self, ctx: &KindContext<'_>) -> Result<Parts, ConfigError> {
        let s: StatementsSettings = ctx.settings()?;
        let account = s.account.map(|a| match ctx.accounts.get(&a) {
            Some(number) => number.clone(),
            None => a,
        });
        let format = s.format.filter(|f| f != "auto");
        let mut limits = crate::importer::Limits::default();
        if let Some(n) = s.max_file_bytes {
            if n == 0 {
                return Err(ctx.error(Some("max_file_bytes"), "expected at least 1, found 0"));
            }
            limits.max_file_bytes = n;
        }
        if let Some(n) = s.max_field_bytes {
            if n == 0 {
                return Err(ctx.error(Some("max_field_bytes"), "expected at least 1, found 0"));
            }
            limits.max_field_bytes = n;
        }
        Ok(Parts {
            source: Some(Arc::new(StatementsSource {
                dir: s.path,
                opts: ImportOptions { format, account },
                importer: StatementImporter::new(None).with_limits(limits),
            })),
            default_schedule: Some(s.schedule.unwrap_or_else(|| "0 */5 * * * *".into())),
            ..Default::default()
        })
    }
}

struct StatementsSource {
    dir: PathBuf,
    opts: ImportOptions,
    importer: StatementImporter,
}

#[async_trait]
impl Source for StatementsSource {
    async fn pull(
        &self,
        _ctx: &CompanyContext,
        checkpoint: Option<Checkpoint>,
    ) -> Result<Batch, ConnectorError> {
        let mut seen: BTreeMap<String, String> = checkpoint
            .and_then(|c| serde_json::from_value(c.0.get("seen").cloned().unwrap_or_default()).ok())
            .unwrap_or_default();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map_err(|e| {
                ConnectorError::Retryable(format!("cannot read folder {}: {e}", self.dir.display()))
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .filter(|p| {
                let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                !(n.starts_with('.') || n.ends_with(".part") || n.ends_with(".tmp"))
            })
            .collect();
        files.sort();
        let mut deliveries = Vec::new();
        let mut read = 0;
        let mut more = false;
        for f in files {
            let name = f
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            // Never more than the file limit in memory: a larger file is refused once (its size and time of
            // change stand for its content in the checkpoint) and read again only when it changes.
            let len = std::fs::metadata(&f).map(|m| m.len()).map_err(|e| {
                ConnectorError::Retryable(format!("cannot read {}: {e}", f.display()))
            })?;
            let bytes = match crate::importer::read_capped(
                &f,
                &name,
                self.importer.limits.max_file_bytes,
            ) {
                Ok(b) => b,
                Err(e) if len > self.importer.limits.max_file_bytes => {
                    let marker = format!("too-large:{len}");
                    if seen.get(&name) != Some(&marker) {
                        tracing::warn!(problem = %e, "a statement file was refused");
                        seen.insert(name, marker);
                    }
                    continue;
                }
                Err(e) => return Err(ConnectorError::Retryable(e.to_string())),
            };
            let sha = cuadra_sdk::sha256_hex(&bytes);
            if seen.get(&name) == Some(&sha) {
                continue;
            }
            if read == FILES_PER_BATCH {
                more = true;
                break;
            }
            read += 1;
            let mut out = |d| {
                deliveries.push(d);
                Ok(())
            };
            let mut bad = |e: cuadra_sdk::InputError| tracing::warn!(problem = %e, "a statement entry was skipped");
            if let Err(e) = self
                .importer
                .read_bytes_reporting(&name, &bytes, &self.opts, &mut out, &mut bad, &mut |w| {
                    tracing::warn!(warning = %w, kind = w.kind.as_str(), "a statement file has a warning");
                })
            {
                tracing::warn!(problem = %e, "a statement file was refused");
            }
            seen.insert(name, sha);
        }
        Ok(Batch {
            deliveries,
            checkpoint: Checkpoint(serde_json::json!({ "seen": seen })),
            more,
        })
    }
}
