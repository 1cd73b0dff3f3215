//! The watched inbox folder: each file is imported by the first importer that recognises it, then moved to
//! `done/` (or `failed/` with a `.error.txt` beside it saying why). Files still being written are left for the
//! next look (their size must be stable across two looks). A file whose import met a transient error (the
//! database locked by another process past the store's own retries, `store::is_transient`) stays where it is and is
//! tried again at the next look: only a file that is itself bad goes to `failed/`. A folder dropped into the inbox
//! is not imported (its files may belong to different importers, and `done/` holds files): once its content is
//! stable across two looks it is moved to `failed/` with a `.error.txt` saying so, instead of sitting there unseen.

use crate::app::App;
use crate::import::import_paths;
use cuadra_sdk::ImportOptions;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::watch;

pub async fn watch(app: App, mut stop: watch::Receiver<bool>) {
    let root = app.settings.inbox.path.clone();
    let every = Duration::from_secs(app.settings.inbox.poll_interval_secs.max(1));
    let mut sizes: HashMap<PathBuf, u64> = HashMap::new();
    loop {
        if let Err(e) = scan(&app, &root, &mut sizes).await {
            tracing::error!(error = %e, folder = %root.display(), "the inbox could not be read");
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

async fn scan(app: &App, root: &Path, sizes: &mut HashMap<PathBuf, u64>) -> anyhow::Result<()> {
    let files = list(root)?;
    let mut seen = HashMap::new();
    for f in files {
        let size = if f.is_dir() {
            folder_size(&f)
        } else {
            std::fs::metadata(&f).map(|m| m.len()).unwrap_or(0)
        };
        // Take a file only when its size is the same as at the previous look.
        if sizes.get(&f) == Some(&size) {
            if handle_file(app, root, &f).await == Handled::Later {
                seen.insert(f, size);
            }
        } else {
            seen.insert(f, size);
        }
    }
    *sizes = seen;
    Ok(())
}

fn list(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(root)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(root)?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_type().ok()?, e.path())))
        .filter(|(t, p)| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            t.is_file() || (t.is_dir() && n != "done" && n != "failed")
        })
        .map(|(_, p)| p)
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !(n.starts_with('.')
                || n.ends_with(".tmp")
                || n.ends_with(".part")
                || n.ends_with(".error.txt"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// What became of a file the inbox took.
#[derive(Debug, PartialEq, Eq)]
enum Handled {
    /// Moved to `done/` or `failed/` (or, when that failed, left in place with the error logged).
    Taken,
    /// Left in place after a transient error, to be tried again at the next look.
    Later,
}

async fn handle_file(app: &App, root: &Path, file: &Path) -> Handled {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let importer = || {
        let head = read_head(file);
        app.file_importers()
            .into_iter()
            .find(|i| i.sniff(&name, &head))
    };
    let result = if file.is_dir() {
        Err(format!(
            "{name}/: a folder; the inbox imports files only: move its files into the inbox itself, or import the folder with `cuadra import`"
        ))
    } else {
        match importer() {
        None => Err(format!(
            "{name}: not a recognised file (expected CFDI .xml/.zip, SAT metadata .txt, a bank statement, or a customer CSV/XLSX with rfc and name columns)"
        )),
        Some(imp) => {
            let imported = import_paths(&app.store, imp, &[file.to_path_buf()], &ImportOptions::default(), "inbox").await;
            // Warnings (a REP line naming no invoice, a statement that does not add up) have no summary to be
            // printed in here: they are logged, once per file.
            if let Ok(summary) = &imported {
                for w in &summary.warnings {
                    tracing::warn!(file = %name, warning = %w, "an inbox file has a warning");
                }
            }
            match imported {
                Ok(summary) if summary.errors.is_empty() => Ok(()),
                Ok(summary) => Err(format!(
                    "{} records were stored; these parts were skipped:\n{}",
                    summary.total("new") + summary.total("unchanged"),
                    summary.errors.join("\n")
                )),
                Err(e) if crate::store::is_transient(&e) => {
                    metrics::counter!("cuadra_inbox_files_total", "result" => "retry").increment(1);
                    tracing::warn!(file = %name, error = %format!("{e:#}"), "inbox file met a transient error; it is tried again at the next look");
                    return Handled::Later;
                }
                Err(e) => Err(format!("{e:#}")),
            }
        }
    }
    };
    let ok = result.is_ok();
    let dest_dir = root.join(if ok { "done" } else { "failed" });
    if let Err(e) = std::fs::create_dir_all(&dest_dir) {
        tracing::error!(error = %e, "cannot create {}", dest_dir.display());
        return Handled::Taken;
    }
    let dest = unique_dest(&dest_dir, &name);
    if let Err(e) = std::fs::rename(file, &dest) {
        tracing::error!(error = %e, file = %name, "cannot move an inbox file");
        return Handled::Taken;
    }
    match result {
        Ok(()) => {
            metrics::counter!("cuadra_inbox_files_total", "result" => "done").increment(1);
            tracing::info!(file = %name, "inbox file imported");
            app.after_import();
        }
        Err(reason) => {
            metrics::counter!("cuadra_inbox_files_total", "result" => "failed").increment(1);
            tracing::warn!(file = %name, "inbox file failed; see its .error.txt");
            let mut p = dest.clone().into_os_string();
            p.push(".error.txt");
            let _ = std::fs::write(PathBuf::from(p), format!("{reason}\n"));
            app.after_import();
        }
    }
    Handled::Taken
}

/// A folder's size for the "stable across two looks" rule: the bytes and number of everything inside it.
fn folder_size(dir: &Path) -> u64 {
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total = total.saturating_add(m.len()).saturating_add(1),
                Err(_) => {}
            }
        }
    }
    total
}

fn read_head(file: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut buf = vec![0u8; 4096];
    match std::fs::File::open(file).and_then(|mut f| f.read(&mut buf)) {
        Ok(n) => {
            buf.truncate(n);
            buf
        }
        Err(_) => Vec::new(),
    }
}

/// `done/name`, or `done/name.1`, ... when a file of that name was handled before.
fn unique_dest(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if !first.exists() {
        return first;
    }
    (1..)
        .map(|i| dir.join(format!("{name}.{i}")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}
