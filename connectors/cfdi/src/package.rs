//! SAT packages (`.zip`) read entry by entry from any `Read + Seek` (a file or downloaded bytes), never extracted
//! to disk and never held whole in memory: root `*.xml` entries are CFDI, root `*.txt` entries starting with
//! `Uuid~` are metadata; everything else (`__MACOSX/…`, `other.txt`, empty files) is reported and skipped. Entry
//! size and expansion ratio are capped against zip bombs.

use crate::deliver::{cfdi_delivery, metadata_delivery};
use crate::metadata::{looks_like_metadata, read_metadata, MetadataError, MetadataItem};
use crate::parser::ParseOptions;
use cuadra_sdk::{Delivery, InputError, Location, Rfc};
use std::collections::HashMap;
use std::io::{BufReader, Read, Seek};

/// Caps applied while reading packages and files.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest CFDI document (bytes); also the cap for a CFDI entry in a package.
    pub max_document_bytes: usize,
    /// Largest metadata file or entry (bytes; metadata is streamed, this bounds time, not memory).
    pub max_metadata_bytes: u64,
    /// Largest uncompressed/compressed ratio of an entry bigger than 1 MiB (zip bombs reach 1000+; XML and
    /// metadata text compress 5-20×).
    pub max_expansion_ratio: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_document_bytes: crate::parser::DEFAULT_MAX_DOCUMENT_BYTES,
            max_metadata_bytes: 4 * 1024 * 1024 * 1024,
            max_expansion_ratio: 100,
        }
    }
}

const RATIO_FLOOR: u64 = 1024 * 1024;

/// Counts bytes read and stops with an error past `cap` or past `ratio × compressed` (after the floor).
struct Guard<R> {
    inner: R,
    read: u64,
    cap: u64,
    ratio_cap: u64,
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.cap {
            return Err(std::io::Error::other(format!(
                "entry is larger than the {} byte limit",
                self.cap
            )));
        }
        if self.read > RATIO_FLOOR && self.read > self.ratio_cap {
            return Err(std::io::Error::other(
                "entry expands more than the allowed ratio (zip bomb?)",
            ));
        }
        Ok(n)
    }
}

fn loc(file: Option<&str>, entry: Option<&str>) -> Location {
    Location {
        file: file.map(str::to_string),
        entry: entry.map(str::to_string),
        ..Location::default()
    }
}

/// Reads a package from bytes already in memory (what the SAT connector downloads). `file` names it in errors.
pub fn read_package_bytes(
    bytes: &[u8],
    file: Option<&str>,
    company_rfcs: &[Rfc],
    limits: &Limits,
    out: &mut dyn FnMut(Delivery) -> Result<(), InputError>,
    bad: &mut dyn FnMut(InputError),
) -> Result<(), InputError> {
    read_package(
        std::io::Cursor::new(bytes),
        file,
        company_rfcs,
        limits,
        out,
        bad,
    )
}

/// Reads a package entry by entry. A file that is not a zip is an `Err`; problems with single entries go to `bad`
/// and reading goes on; an error from `out` stops reading and is returned.
pub fn read_package<R: Read + Seek>(
    reader: R,
    file: Option<&str>,
    company_rfcs: &[Rfc],
    limits: &Limits,
    out: &mut dyn FnMut(Delivery) -> Result<(), InputError>,
    bad: &mut dyn FnMut(InputError),
) -> Result<(), InputError> {
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| {
        InputError::new(loc(file, None), format!("not a readable zip package: {e}"))
    })?;
    let opts = ParseOptions {
        max_document_bytes: limits.max_document_bytes,
    };
    let mut seen: HashMap<String, String> = HashMap::new();
    for i in 0..zip.len() {
        let mut entry = match zip.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                bad(InputError::new(
                    loc(file, Some(&format!("#{i}"))),
                    format!("unreadable entry: {e}"),
                ));
                continue;
            }
        };
        let name = entry.name().to_string();
        if entry.is_dir() {
            continue;
        }
        let here = loc(file, Some(&name));
        let root = !name.contains('/') && !name.contains('\\');
        let lower = name.to_ascii_lowercase();
        let size = entry.size();
        let compressed = entry.compressed_size().max(1);
        if size > RATIO_FLOOR && size / compressed > limits.max_expansion_ratio {
            bad(InputError::new(
                here,
                format!(
                    "entry expands {size} bytes from {compressed} (ratio over {}): refused as a possible zip bomb",
                    limits.max_expansion_ratio
                ),
            ));
            continue;
        }
        let ratio_cap = compressed.saturating_mul(limits.max_expansion_ratio);
        if root && lower.ends_with(".xml") {
            let cap = limits.max_document_bytes as u64;
            if size > cap {
                bad(InputError::new(
                    here,
                    format!("entry is {size} bytes, more than the {cap} byte document limit"),
                ));
                continue;
            }
            let mut raw = Vec::with_capacity(size as usize);
            let mut g = Guard {
                inner: &mut entry,
                read: 0,
                cap,
                ratio_cap,
            };
            if let Err(e) = g.read_to_end(&mut raw) {
                bad(InputError::new(here, format!("reading entry: {e}")));
                continue;
            }
            match cfdi_delivery(raw, company_rfcs, &opts) {
                Ok(d) => {
                    if let Some(first) = seen.get(&d.external_id) {
                        bad(InputError::new(
                            here,
                            format!("same CFDI {} as entry {first}; skipped", d.external_id),
                        ));
                        continue;
                    }
                    seen.insert(d.external_id.clone(), name.clone());
                    out(d)?;
                }
                Err(e) => bad(e.to_input_error(file, Some(&name))),
            }
        } else if root && lower.ends_with(".txt") {
            let mut g = Guard {
                inner: &mut entry,
                read: 0,
                cap: limits.max_metadata_bytes,
                ratio_cap,
            };
            let mut br = BufReader::with_capacity(64 * 1024, &mut g);
            let head = match std::io::BufRead::fill_buf(&mut br) {
                Ok(h) => h,
                Err(e) => {
                    bad(InputError::new(here, format!("reading entry: {e}")));
                    continue;
                }
            };
            if !looks_like_metadata(head) {
                bad(InputError::new(
                    here,
                    "text entry is not SAT metadata (does not start with `Uuid~`); skipped",
                ));
                continue;
            }
            metadata_stream(br, file, Some(&name), out, bad)?;
        } else {
            bad(InputError::new(
                here,
                "not a CFDI (root *.xml) or metadata (root *.txt) entry; skipped",
            ));
        }
    }
    Ok(())
}

/// Streams one metadata file or entry into deliveries (one per row, kind `sat-metadata`). Third-party rows are
/// skipped: the SDK status record has no place for them.
pub(crate) fn metadata_stream<R: std::io::BufRead>(
    r: R,
    file: Option<&str>,
    entry: Option<&str>,
    out: &mut dyn FnMut(Delivery) -> Result<(), InputError>,
    bad: &mut dyn FnMut(InputError),
) -> Result<(), InputError> {
    let mut stop: Option<InputError> = None;
    let res = read_metadata(
        r,
        &mut |item| match item {
            MetadataItem::Status(row) => out(metadata_delivery(row)).map_err(|e| {
                let msg = e.to_string();
                stop = Some(e);
                msg
            }),
            MetadataItem::ThirdParty(_) => Ok(()),
        },
        &mut |p| {
            bad(InputError::new(
                Location {
                    file: file.map(str::to_string),
                    entry: entry.map(str::to_string),
                    line: Some(p.line),
                    column: Some(p.column),
                    field: p.field,
                },
                p.message,
            ))
        },
    );
    match res {
        Ok(_) => Ok(()),
        Err(MetadataError::Stopped(_)) => {
            Err(stop
                .unwrap_or_else(|| InputError::new(loc(file, entry), "stopped by the receiver")))
        }
        Err(e) => {
            bad(InputError::new(loc(file, entry), e.to_string()));
            Ok(())
        }
    }
}
