//! The import pipeline shared by `cuadra import ...` and the inbox folder: a `FileImporter` reads files on a
//! blocking thread and hands deliveries over a bounded channel; they are stored in batches, then document links
//! are applied. Memory stays bounded whatever the file size.

use crate::store::{
    delivery_label_of, unstorable_amount, FileConflict, IngestSummary, Prepacked, Store, WriteTx,
};
use cuadra_sdk::{Delivery, FileImporter, FileWarning, ImportOptions, InputError, Location};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const BATCH: usize = 500;
/// Deliveries per write transaction during a bulk import. SQLite writes every page a transaction changed to the
/// WAL at commit; a CFDI adds one entry to each of several indexes keyed by UUID or hash, at random places, so
/// a commit of 500 CFDI rewrote about 2,000 index pages. Ten batches per commit write a page changed by several
/// of them once (200,000 CFDI: 4.65 GB -> 3.57 GB written).
const PER_TRANSACTION: usize = 5_000;
/// Deliveries per message from the reading thread: one hand-over (and at most one thread wake-up) per few dozen
/// documents rather than per document.
const CHUNK: usize = 64;

enum Msg {
    /// A delivery and its body, hashed and compressed on the reading thread.
    Delivery(Delivery, Prepacked),
    Bad(InputError),
    Warning(FileWarning),
}

/// Imports `paths` (files or folders) with `importer`; `source` names who delivered them in the raw inbox.
pub async fn import_paths(
    store: &Store,
    importer: Arc<dyn FileImporter>,
    paths: &[PathBuf],
    opts: &ImportOptions,
    source: &str,
) -> anyhow::Result<IngestSummary> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Msg>>((BATCH * 2).div_ceil(CHUNK));
    let files = expand_marked(paths)?;
    let opts = opts.clone();
    let packer = store.clone();
    let reader = tokio::task::spawn_blocking(move || {
        for (f, walked) in files {
            // Inside a folder, files that are not this importer's (the PDFs that travel with CFDI, notes, ...)
            // are skipped silently, as the inbox does; a file named explicitly is always read.
            if walked && !sniffs(importer.as_ref(), &f) {
                continue;
            }
            let pending = std::cell::RefCell::new(Vec::with_capacity(CHUNK));
            let send = |pending: &std::cell::RefCell<Vec<Msg>>| {
                let chunk =
                    std::mem::replace(&mut *pending.borrow_mut(), Vec::with_capacity(CHUNK));
                chunk.is_empty() || tx.blocking_send(chunk).is_ok()
            };
            let mut out = |d: Delivery| {
                // An amount the ledger cannot hold fails this delivery alone, named, not the whole import.
                if let Some(why) = unstorable_amount(&d) {
                    let file = Location {
                        file: Some(f.display().to_string()),
                        ..Location::default()
                    };
                    let msg = format!("{} {}: {why}; skipped", d.kind, d.external_id);
                    pending
                        .borrow_mut()
                        .push(Msg::Bad(InputError::new(file, msg)));
                    return Ok(());
                }
                let pre = packer.prepack(&d);
                pending.borrow_mut().push(Msg::Delivery(d, pre));
                if pending.borrow().len() >= CHUNK && !send(&pending) {
                    return Err(InputError::new(
                        Location::default(),
                        "import stopped before the file was read",
                    ));
                }
                Ok(())
            };
            let mut bad = |e: InputError| {
                pending.borrow_mut().push(Msg::Bad(e));
            };
            let warned = std::cell::RefCell::new(Vec::new());
            let mut warn = |w: FileWarning| warned.borrow_mut().push(Msg::Warning(w));
            let read = importer.read_reporting(&f, &opts, &mut out, &mut bad, &mut warn);
            pending.borrow_mut().extend(warned.take());
            if let Err(e) = read {
                pending.borrow_mut().push(Msg::Bad(e));
            }
            send(&pending);
        }
    });
    let mut summary = IngestSummary::default();
    let mut batch = Batch::default();
    // Several batches share a transaction while deliveries keep coming; it is committed every PER_TRANSACTION
    // deliveries and whenever the reader has nothing ready, so the write lock is never held while waiting.
    let mut tx: Option<WriteTx<'_>> = None;
    let mut in_tx = 0usize;
    let mut for_person: Vec<FileConflict> = Vec::new();
    let started = std::time::Instant::now();
    loop {
        let chunk = match rx.try_recv() {
            Ok(chunk) => chunk,
            Err(tokio::sync::mpsc::error::TryRecvError::Empty) => {
                commit(&mut tx, &mut in_tx).await?;
                match rx.recv().await {
                    Some(chunk) => chunk,
                    None => break,
                }
            }
            Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => break,
        };
        for msg in chunk {
            match msg {
                Msg::Delivery(d, pre) => {
                    batch.deliveries.push(d);
                    batch.prepacked.push(pre);
                    if batch.deliveries.len() >= BATCH {
                        in_tx += batch.deliveries.len();
                        flush(store, &mut tx, source, &mut batch, &mut summary).await?;
                        if in_tx >= PER_TRANSACTION {
                            commit(&mut tx, &mut in_tx).await?;
                        }
                    }
                }
                Msg::Bad(e) => summary.fail("failed", e.to_string()),
                Msg::Warning(w) => {
                    if w.for_person {
                        for_person.push(file_conflict(&w));
                    }
                    summary.warnings.push(w.to_string());
                }
            }
        }
    }
    flush(store, &mut tx, source, &mut batch, &mut summary).await?;
    commit(&mut tx, &mut in_tx).await?;
    reader.await?;
    store.record_file_conflicts(&for_person).await?;
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        deliveries = summary
            .counts
            .values()
            .flat_map(|m| m.values())
            .sum::<u64>(),
        "deliveries stored"
    );
    store.link_documents().await?;
    Ok(summary)
}

/// A warning a person must look at, as a `report conflicts` row named by the file's name (not its folder: the
/// inbox moves files) and the line, so that importing the same file again adds no second row.
fn file_conflict(w: &FileWarning) -> FileConflict {
    let at = &w.error.location;
    let file = at.file.as_deref().unwrap_or("-");
    let name = Path::new(file)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.to_string());
    let external_id = match at.line {
        Some(line) => format!("{name}, line {line}"),
        None => name,
    };
    FileConflict {
        kind: w.kind.to_string(),
        external_id,
        detail: w.to_string(),
    }
}

/// Commits the import's open transaction, if any.
async fn commit(tx: &mut Option<WriteTx<'_>>, in_tx: &mut usize) -> anyhow::Result<()> {
    if let Some(open) = tx.take() {
        open.commit().await?;
    }
    *in_tx = 0;
    Ok(())
}

/// Deliveries waiting to be stored, each with its prepacked body.
#[derive(Default)]
struct Batch {
    deliveries: Vec<Delivery>,
    prepacked: Vec<Prepacked>,
}

async fn flush<'s>(
    store: &'s Store,
    tx: &mut Option<WriteTx<'s>>,
    source: &str,
    batch: &mut Batch,
    summary: &mut IngestSummary,
) -> anyhow::Result<()> {
    if batch.deliveries.is_empty() {
        return Ok(());
    }
    if tx.is_none() {
        *tx = Some(store.begin_write().await?);
    }
    let outcomes = store
        .ingest_prepacked(
            tx.as_mut().expect("begun above"),
            source,
            &batch.deliveries,
            &batch.prepacked,
        )
        .await?;
    for (d, o) in batch.deliveries.iter().zip(outcomes) {
        summary.add(&delivery_label_of(d), o);
    }
    metrics::counter!("cuadra_import_deliveries_total", "source" => source.to_string())
        .increment(batch.deliveries.len() as u64);
    batch.deliveries.clear();
    batch.prepacked.clear();
    Ok(())
}

/// Files under `paths`, folders walked (sorted, hidden files skipped).
pub fn expand(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    Ok(expand_marked(paths)?.into_iter().map(|(p, _)| p).collect())
}

/// Whether `importer` recognises the file from its name and first bytes.
fn sniffs(importer: &dyn FileImporter, path: &Path) -> bool {
    use std::io::Read;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let mut head = Vec::with_capacity(4096);
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.take(4096).read_to_end(&mut head);
    }
    importer.sniff(name, &head)
}

/// Like [`expand`], each file marked `true` when it was found by walking a folder.
fn expand_marked(paths: &[PathBuf]) -> anyhow::Result<Vec<(PathBuf, bool)>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut walked = Vec::new();
            let mut stack = vec![p.clone()];
            while let Some(dir) = stack.pop() {
                let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
                    .map_err(|e| anyhow::anyhow!("cannot read folder {}: {e}", dir.display()))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| !is_hidden(p))
                    .collect();
                entries.sort();
                for e in entries.into_iter().rev() {
                    if e.is_dir() {
                        stack.push(e);
                    } else {
                        walked.push(e);
                    }
                }
            }
            walked.sort();
            out.extend(walked.into_iter().map(|w| (w, true)));
        } else if p.exists() {
            out.push((p.clone(), false));
        } else {
            anyhow::bail!("{}: no such file or folder", p.display());
        }
    }
    Ok(out)
}

fn is_hidden(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

/// Prints an import summary; returns the exit code (2 when some input was bad).
pub fn print_summary(summary: &IngestSummary, quiet_errors: bool) -> i32 {
    for e in &summary.errors {
        if !quiet_errors {
            eprintln!("error: {e}");
        }
    }
    println!(
        "{:<12} {:>9} {:>9} {:>11} {:>7}",
        "kind", "new", "unchanged", "conflicting", "failed"
    );
    for (label, m) in &summary.counts {
        let g = |k: &str| m.get(k).copied().unwrap_or(0);
        println!(
            "{:<12} {:>9} {:>9} {:>11} {:>7}",
            label,
            g("new"),
            g("unchanged"),
            g("conflicting"),
            g("failed")
        );
    }
    for w in &summary.warnings {
        eprintln!("warning: {w}");
    }
    if summary.errors.is_empty() {
        0
    } else {
        2
    }
}
