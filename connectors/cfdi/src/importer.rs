//! The `cfdi` file importer (`cuadra import`, inbox folder): single CFDI `.xml` files, SAT `.zip` packages, SAT
//! metadata `.txt` files and folders of them (walked recursively in name order; hidden files and files of other
//! types, such as the PDFs that travel with CFDI, are skipped silently inside folders).

use crate::deliver::cfdi_delivery_reporting;
use crate::metadata::looks_like_metadata;
use crate::package::{metadata_stream, read_package_reporting, Limits, SeekBuf};
use crate::parser::ParseOptions;
use cuadra_sdk::{Delivery, FileImporter, FileWarning, ImportOptions, InputError, Location, Rfc};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// Reads CFDI, packages and metadata for the company whose RFCs are given (to tell issued from received).
#[derive(Debug, Clone)]
pub struct CfdiImporter {
    company_rfcs: Vec<Rfc>,
    limits: Limits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileType {
    Xml,
    Zip,
    Txt,
}

fn file_type(name: &str) -> Option<FileType> {
    let l = name.to_ascii_lowercase();
    if l.ends_with(".xml") {
        Some(FileType::Xml)
    } else if l.ends_with(".zip") {
        Some(FileType::Zip)
    } else if l.ends_with(".txt") {
        Some(FileType::Txt)
    } else {
        None
    }
}

fn looks_like_cfdi(head: &[u8]) -> bool {
    let find = |needle: &[u8]| head.windows(needle.len()).any(|w| w == needle);
    find(b"www.sat.gob.mx/cfd/") || find(b"Comprobante") || find(b"retencionpago")
}

fn at(path: &Path) -> Location {
    Location {
        file: Some(path.display().to_string()),
        ..Location::default()
    }
}

impl CfdiImporter {
    pub fn new(company_rfcs: Vec<Rfc>) -> Self {
        CfdiImporter {
            company_rfcs,
            limits: Limits::default(),
        }
    }

    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn company_rfcs(&self) -> &[Rfc] {
        &self.company_rfcs
    }

    /// Reads package bytes the SAT connector downloaded (see [`crate::package::read_package_bytes`]).
    pub fn read_package_bytes(
        &self,
        bytes: &[u8],
        name: Option<&str>,
        out: &mut dyn FnMut(Delivery) -> Result<(), InputError>,
        bad: &mut dyn FnMut(InputError),
    ) -> Result<(), InputError> {
        crate::package::read_package_bytes(bytes, name, &self.company_rfcs, &self.limits, out, bad)
    }

    fn read_dir(
        &self,
        dir: &Path,
        out: &mut dyn FnMut(Delivery) -> Result<(), InputError>,
        bad: &mut dyn FnMut(InputError),
        warn: &mut dyn FnMut(InputError),
    ) -> Result<(), InputError> {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| InputError::new(at(dir), format!("cannot list folder: {e}")))?;
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            let hidden = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_none_or(|n| n.starts_with('.'));
            if hidden {
                continue;
            }
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                bad(InputError::new(
                    at(&p),
                    "cannot read file metadata; skipped",
                ));
                continue;
            };
            if meta.is_dir() {
                self.read_dir(&p, out, bad, warn)?;
            } else if meta.is_file() {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                if let Some(t) = file_type(name) {
                    if let Err(e) = self.read_file(&p, t, false, out, bad, warn) {
                        if e.message.starts_with("stopped:") {
                            return Err(e);
                        }
                        bad(e);
                    }
                }
            }
        }
        Ok(())
    }

    fn read_file(
        &self,
        path: &Path,
        t: FileType,
        explicit: bool,
        out: &mut dyn FnMut(Delivery) -> Result<(), InputError>,
        bad: &mut dyn FnMut(InputError),
        warn: &mut dyn FnMut(InputError),
    ) -> Result<(), InputError> {
        let file_name = path.display().to_string();
        let f =
            File::open(path).map_err(|e| InputError::new(at(path), format!("cannot open: {e}")))?;
        let mut stopped =
            |e: InputError| InputError::new(e.location, format!("stopped: {}", e.message));
        match t {
            FileType::Xml => {
                let cap = self.limits.max_document_bytes;
                let mut raw = Vec::new();
                f.take(cap as u64 + 1)
                    .read_to_end(&mut raw)
                    .map_err(|e| InputError::new(at(path), format!("cannot read: {e}")))?;
                if raw.len() > cap {
                    return Err(InputError::new(
                        at(path),
                        format!("file is larger than the {cap} byte document limit"),
                    ));
                }
                let opts = ParseOptions {
                    max_document_bytes: cap,
                };
                let mut warnings = Vec::new();
                match cfdi_delivery_reporting(raw, &self.company_rfcs, &opts, &mut |w| {
                    warnings.push(w)
                }) {
                    Ok(d) => {
                        for w in &warnings {
                            warn(w.to_input_error(Some(&file_name), None));
                        }
                        out(d).map_err(&mut stopped)
                    }
                    Err(e) => {
                        bad(e.to_input_error(Some(&file_name), None));
                        Ok(())
                    }
                }
            }
            FileType::Zip => read_package_reporting(
                SeekBuf::new(f),
                Some(&file_name),
                &self.company_rfcs,
                &self.limits,
                &mut |d| out(d).map_err(&mut stopped),
                bad,
                warn,
            ),
            FileType::Txt => {
                let mut br =
                    BufReader::with_capacity(64 * 1024, f.take(self.limits.max_metadata_bytes));
                let head = std::io::BufRead::fill_buf(&mut br)
                    .map_err(|e| InputError::new(at(path), format!("cannot read: {e}")))?;
                if !looks_like_metadata(head) {
                    if explicit {
                        return Err(InputError::new(
                            at(path),
                            "not SAT metadata: the first line must start with `Uuid~`",
                        ));
                    }
                    return Ok(());
                }
                metadata_stream(
                    br,
                    Some(&file_name),
                    None,
                    &mut |d| out(d).map_err(&mut stopped),
                    bad,
                )
            }
        }
    }
}

impl FileImporter for CfdiImporter {
    fn family(&self) -> &'static str {
        "cfdi"
    }

    /// Bytes a source delivered are a package (the SAT connector's zips), read as by
    /// [`CfdiImporter::read_package_bytes`].
    fn read_bytes(
        &self,
        name: &str,
        bytes: &[u8],
        _opts: &ImportOptions,
        out: &mut dyn FnMut(Delivery) -> Result<(), InputError>,
        bad: &mut dyn FnMut(InputError),
    ) -> Result<(), InputError> {
        self.read_package_bytes(bytes, Some(name), out, bad)
    }

    /// `.xml` whose head mentions the CFDI namespace, `.zip` starting with `PK`, `.txt` starting with `Uuid~`.
    fn sniff(&self, file_name: &str, head: &[u8]) -> bool {
        match file_type(file_name) {
            Some(FileType::Xml) => looks_like_cfdi(head),
            Some(FileType::Zip) => head.starts_with(b"PK"),
            Some(FileType::Txt) => looks_like_metadata(head),
            None => false,
        }
    }

    /// Reads a file or a folder. Each CFDI (file or package entry) becomes a `cfdi` delivery, each metadata row a
    /// `sat-metadata` delivery; unreadable documents, rows and entries go to `bad` with file, entry, line and
    /// column. Errors returned by `out` stop reading and are returned (message prefixed with `stopped:`).
    fn read(
        &self,
        path: &Path,
        opts: &ImportOptions,
        out: &mut dyn FnMut(Delivery) -> Result<(), InputError>,
        bad: &mut dyn FnMut(InputError),
    ) -> Result<(), InputError> {
        self.read_reporting(path, opts, out, bad, &mut |_| {})
    }

    /// [`FileImporter::read`] that also hands over the warnings of documents that import (REP lines that name
    /// no invoice), each with file, package entry, line, column and field.
    fn read_reporting(
        &self,
        path: &Path,
        _opts: &ImportOptions,
        out: &mut dyn FnMut(Delivery) -> Result<(), InputError>,
        bad: &mut dyn FnMut(InputError),
        warn: &mut dyn FnMut(FileWarning),
    ) -> Result<(), InputError> {
        // A REP line's warning is printed and logged; the REP itself imports, so nothing is kept for a person.
        let warn = &mut |error: InputError| {
            warn(FileWarning {
                error,
                kind: "rep-line",
                for_person: false,
            })
        };
        let meta = std::fs::metadata(path)
            .map_err(|e| InputError::new(at(path), format!("cannot read: {e}")))?;
        if meta.is_dir() {
            return self.read_dir(path, out, bad, warn);
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        match file_type(name) {
            Some(t) => self.read_file(path, t, true, out, bad, warn),
            None => Err(InputError::new(
                at(path),
                "not a CFDI importer file: expected .xml, .zip, .txt or a folder",
            )),
        }
    }
}
