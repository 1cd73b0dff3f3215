//! SAT packages (`.zip`) read entry by entry from any `Read + Seek` (a file or downloaded bytes), never extracted
//! to disk and never held whole in memory: root `*.xml` entries are CFDI, root `*.txt` entries starting with
//! `Uuid~` are metadata; everything else (`__MACOSX/…`, `other.txt`, empty files) is reported and skipped. Entry
//! size and expansion ratio are capped against zip bombs.

use crate::deliver::{cfdi_delivery_reporting, metadata_delivery};
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
    read_package_reporting(reader, file, company_rfcs, limits, out, bad, &mut |_| {})
}

/// [`read_package`] that also hands over the warnings of entries that import (file, entry, line, field).
pub fn read_package_reporting<R: Read + Seek>(
    reader: R,
    file: Option<&str>,
    company_rfcs: &[Rfc],
    limits: &Limits,
    out: &mut dyn FnMut(Delivery) -> Result<(), InputError>,
    bad: &mut dyn FnMut(InputError),
    warn: &mut dyn FnMut(InputError),
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
            let mut warnings = Vec::new();
            match cfdi_delivery_reporting(raw, company_rfcs, &opts, &mut |w| warnings.push(w)) {
                Ok(d) => {
                    for w in &warnings {
                        warn(w.to_input_error(file, Some(&name)));
                    }
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

/// A buffered reader whose buffer survives seeks that land inside it. The zip reader seeks to every entry's
/// header and again to its data; behind a plain `BufReader` each seek throws the buffer away, and a package of
/// 200,000 small CFDI was read from the file about ten times over (6 GB for a 590 MB package).
pub struct SeekBuf<R> {
    inner: R,
    buf: Box<[u8]>,
    /// File offset of `buf[0]`, and how much of `buf` holds file data.
    start: u64,
    filled: usize,
    /// The logical position, and where `inner` stands (`None` when unknown).
    pos: u64,
    inner_pos: Option<u64>,
}

impl<R: Read + Seek> SeekBuf<R> {
    pub fn new(inner: R) -> Self {
        SeekBuf {
            inner,
            buf: vec![0; 64 * 1024].into_boxed_slice(),
            start: 0,
            filled: 0,
            pos: 0,
            inner_pos: None,
        }
    }

    fn seek_inner(&mut self, to: u64) -> std::io::Result<()> {
        if self.inner_pos != Some(to) {
            self.inner_pos = None;
            self.inner.seek(std::io::SeekFrom::Start(to))?;
            self.inner_pos = Some(to);
        }
        Ok(())
    }
}

impl<R: Read + Seek> Read for SeekBuf<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let end = self.start + self.filled as u64;
        if self.pos < self.start || self.pos >= end {
            self.seek_inner(self.pos)?;
            if out.len() >= self.buf.len() {
                // A large read goes straight through.
                let n = self.inner.read(out)?;
                self.inner_pos = Some(self.pos + n as u64);
                self.pos += n as u64;
                return Ok(n);
            }
            let n = self.inner.read(&mut self.buf)?;
            self.inner_pos = Some(self.pos + n as u64);
            self.start = self.pos;
            self.filled = n;
            if n == 0 {
                return Ok(0);
            }
        }
        let off = (self.pos - self.start) as usize;
        let n = out.len().min(self.filled - off);
        out[..n].copy_from_slice(&self.buf[off..off + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for SeekBuf<R> {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        use std::io::SeekFrom;
        let invalid = || std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek out of range");
        self.pos = match to {
            SeekFrom::Start(p) => p,
            SeekFrom::Current(d) => self.pos.checked_add_signed(d).ok_or_else(invalid)?,
            SeekFrom::End(d) => {
                self.inner_pos = None;
                let p = self.inner.seek(SeekFrom::End(d))?;
                self.inner_pos = Some(p);
                p
            }
        };
        Ok(self.pos)
    }
}

#[cfg(test)]
mod seek_buf_tests {
    use super::SeekBuf;
    use std::io::{Cursor, Read, Seek, SeekFrom};

    /// Random seeks and reads of every size give the bytes a plain cursor gives.
    #[test]
    fn reads_what_a_cursor_reads() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut plain = Cursor::new(data.clone());
        let mut buffered = SeekBuf::new(Cursor::new(data.clone()));
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for _ in 0..5_000 {
            let to = match next(4) {
                0 => SeekFrom::Start(next(310_000)),
                1 => SeekFrom::Current(next(20_000) as i64 - 10_000),
                2 => SeekFrom::End(-(next(1_000) as i64)),
                _ => SeekFrom::Current(0),
            };
            let (a, b) = (plain.seek(to), buffered.seek(to));
            assert_eq!(a.is_ok(), b.is_ok());
            if a.is_err() {
                plain.seek(SeekFrom::Start(0)).unwrap();
                buffered.seek(SeekFrom::Start(0)).unwrap();
            }
            let len = [1, 30, 4_000, 70_000, 200_000][next(5) as usize];
            let (mut p, mut q) = (vec![0; len], vec![0; len]);
            let (n, m) = (
                read_full(&mut plain, &mut p),
                read_full(&mut buffered, &mut q),
            );
            assert_eq!((n, &p[..n]), (m, &q[..m]));
        }
    }

    fn read_full(r: &mut impl Read, out: &mut [u8]) -> usize {
        let mut n = 0;
        while n < out.len() {
            match r.read(&mut out[n..]).unwrap() {
                0 => break,
                k => n += k,
            }
        }
        n
    }
}
