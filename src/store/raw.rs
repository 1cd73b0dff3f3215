//! Raw bodies in the inbox, stored compressed and read back byte-exact.
//!
//! Every delivery is kept as delivered so that the ledger can be rebuilt from it; most of what a bulk import
//! writes is those bodies. They are stored with zstd when that saves space. A CFDI is compressed against a
//! dictionary: an earlier CFDI with the same issuer certificate (`NoCertificado`; the second one met), which
//! holds the certificate itself (about 2 KB of base64 in every CFDI of that issuer) and the boilerplate they all
//! repeat.
//! A real 5.6 KB CFDI 4.0 becomes about 1 KB; a row then shares its page with others instead of filling one
//! (or two) by itself, and an import writes a fraction of the pages.
//!
//! Dictionaries live in `raw_dicts`, addressed by their SHA-256, and are written in the transaction of the
//! first body that uses them: a rolled-back transaction leaves no body that names a missing dictionary, and
//! the next transaction that uses the dictionary (still known in memory) writes it again.

use super::row::RowExt;
use super::{Store, WriteTx};
use anyhow::Context;
use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};

/// Bodies shorter than this are stored as they are (the frame and its header would save little).
const MIN_COMPRESSED: usize = 256;
/// zstd's level 1: about 400 MB/s on one core, and most of the gain of higher levels on XML.
const LEVEL: i32 = 1;
/// A body is stored compressed only when that saves at least an eighth of it.
fn worth_it(packed: usize, raw: usize) -> bool {
    packed <= raw - raw / 8
}

pub(crate) const IDENTITY: &str = "identity";
pub(crate) const ZSTD: &str = "zstd";
pub(crate) const ZSTD_DICT: &str = "zstd-dict";

/// A body as it goes into `raw_inbox`.
pub(crate) struct Packed {
    pub encoding: &'static str,
    pub dict_id: Option<i64>,
    pub body: Vec<u8>,
}

/// A dictionary: its bytes and a compressor that has digested them.
struct Dict {
    kind: String,
    fingerprint: String,
    sha256: String,
    bytes: Vec<u8>,
    compressor: Mutex<zstd::bulk::Compressor<'static>>,
    /// When it was last used (the packer's tick), to let the least used go when too many are held.
    used: std::sync::atomic::AtomicU64,
}

/// Fingerprints seen once and not stored as dictionaries, remembered up to this many (then forgotten at once).
const SEEN_ONCE: usize = 100_000;
/// Dictionaries held in memory at most (each holds a compression context, up to about a megabyte); one let go is
/// read back from `raw_dicts` when its issuer comes again.
const HELD_DICTS: usize = 32;

/// A delivery kind and a fingerprint (a CFDI issuer's certificate number).
type DictKey = (String, String);

/// Dictionaries known to this process, by (kind, fingerprint); fingerprints seen once; a plain compressor.
pub(crate) struct Packer {
    dicts: Mutex<HashMap<DictKey, Option<Arc<Dict>>>>,
    plain: Mutex<zstd::bulk::Compressor<'static>>,
    tick: std::sync::atomic::AtomicU64,
}

impl Default for Packer {
    fn default() -> Self {
        Packer {
            tick: Default::default(),
            dicts: Mutex::new(HashMap::new()),
            plain: Mutex::new(zstd::bulk::Compressor::new(LEVEL).expect("zstd level 1")),
        }
    }
}

/// The issuer certificate number of a CFDI (`NoCertificado="..."` on the Comprobante), when there is one that
/// looks like one (digits, at most 40).
fn fingerprint(kind: &str, raw: &[u8]) -> Option<String> {
    if kind != "cfdi" {
        return None;
    }
    const KEY: &[u8] = b"NoCertificado=";
    let at = memchr::memmem::find(raw, KEY)? + KEY.len();
    let quote = *raw.get(at)?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let rest = &raw[at + 1..raw.len().min(at + 42)];
    let end = rest.iter().position(|&b| b == quote)?;
    let value = &rest[..end];
    (!value.is_empty() && value.iter().all(u8::is_ascii_digit))
        .then(|| String::from_utf8_lossy(value).into_owned())
}

fn new_dict(kind: &str, fingerprint: &str, sha256: String, bytes: Vec<u8>) -> anyhow::Result<Dict> {
    let compressor = zstd::bulk::Compressor::with_dictionary(LEVEL, &bytes)
        .context("loading a compression dictionary")?;
    Ok(Dict {
        kind: kind.to_string(),
        fingerprint: fingerprint.to_string(),
        sha256,
        bytes,
        compressor: Mutex::new(compressor),
        used: Default::default(),
    })
}

/// A stored body back as delivered; checked against its SHA-256.
pub(crate) fn unpack(
    encoding: &str,
    body: &[u8],
    dict: Option<&[u8]>,
    sha256: &str,
) -> anyhow::Result<Vec<u8>> {
    let out = match (encoding, dict) {
        (IDENTITY, _) => body.to_vec(),
        (ZSTD, _) => zstd::stream::decode_all(body).context("reading a compressed body")?,
        (ZSTD_DICT, Some(d)) => {
            let mut out = Vec::new();
            let mut dec = zstd::stream::read::Decoder::with_dictionary(body, d)
                .context("reading a compressed body")?;
            std::io::copy(&mut dec, &mut out).context("reading a compressed body")?;
            out
        }
        (ZSTD_DICT, None) => anyhow::bail!("the body's compression dictionary is missing"),
        (other, _) => anyhow::bail!("unknown body encoding {other:?}"),
    };
    let got = cuadra_sdk::sha256_hex(&out);
    anyhow::ensure!(
        got == sha256,
        "the stored body does not match its SHA-256 (expected {sha256}, read {got})"
    );
    Ok(out)
}

/// One delivery as kept in the raw inbox.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RawDelivery {
    pub id: i64,
    pub source: String,
    pub kind: String,
    pub external_id: String,
    pub sha256: String,
    pub received_at: String,
    /// The bytes as delivered.
    #[serde(skip)]
    pub body: Vec<u8>,
}

/// A stored form: encoding, dictionary, bytes.
type Form = (&'static str, Option<Arc<Dict>>, Vec<u8>);

impl Packer {
    /// `raw` compressed (with `dict` when given), or as it is when compressing would not be worth it.
    fn compress(&self, raw: &[u8], dict: Option<Arc<Dict>>) -> anyhow::Result<Form> {
        if raw.len() < MIN_COMPRESSED {
            return Ok((IDENTITY, None, raw.to_vec()));
        }
        let packed = match &dict {
            Some(d) => {
                d.used.store(self.tick.fetch_add(1, Relaxed), Relaxed);
                d.compressor.lock().expect("not poisoned").compress(raw)
            }
            None => self.plain.lock().expect("not poisoned").compress(raw),
        }
        .context("compressing a body")?;
        Ok(match (worth_it(packed.len(), raw.len()), dict) {
            (false, _) => (IDENTITY, None, raw.to_vec()),
            (true, Some(d)) => (ZSTD_DICT, Some(d), packed),
            (true, None) => (ZSTD, None, packed),
        })
    }
}

/// A delivery's body hashed and compressed ahead, off the writer (on an import's reading thread). The stored
/// form is there when the body needs no dictionary or its dictionary was known in memory; the writer does the
/// rest (the first bodies of an issuer).
pub struct Prepacked {
    sha256: String,
    form: Option<Form>,
}

/// The SHA-256 of a delivery's body (taken from its prepacked form when there is one).
pub(crate) fn sha_of(d: &cuadra_sdk::Delivery, pre: Option<&Prepacked>) -> String {
    match pre {
        Some(p) => p.sha256.clone(),
        None => d.sha256_hex(),
    }
}

impl Store {
    /// Hashes and compresses a delivery's body ahead of [`Store::ingest_prepacked`]; any thread.
    pub fn prepack(&self, d: &cuadra_sdk::Delivery) -> Prepacked {
        let form = match fingerprint(&d.kind, &d.raw) {
            None => self.packer.compress(&d.raw, None).ok(),
            Some(fp) => {
                let known = self
                    .packer
                    .dicts
                    .lock()
                    .expect("not poisoned")
                    .get(&(d.kind.clone(), fp))
                    .cloned();
                match known {
                    Some(Some(dict)) => self.packer.compress(&d.raw, Some(dict)).ok(),
                    _ => None,
                }
            }
        };
        Prepacked {
            sha256: d.sha256_hex(),
            form,
        }
    }

    /// The stored forms of `raws` (kind, bytes, compressed ahead or not) for `raw_inbox`, writing in `tx` the
    /// dictionaries they use.
    pub(crate) async fn pack_bodies(
        &self,
        tx: &mut WriteTx<'_>,
        raws: &[(&str, &[u8], Option<&Prepacked>)],
    ) -> anyhow::Result<Vec<Packed>> {
        let mut out = Vec::with_capacity(raws.len());
        for (kind, raw, pre) in raws {
            let (encoding, dict, body) = match pre.and_then(|p| p.form.clone()) {
                Some(form) => form,
                None => {
                    let dict = self.dict_for(tx, kind, raw).await?;
                    self.packer.compress(raw, dict)?
                }
            };
            let dict_id = match dict {
                Some(d) => Some(self.dict_id(tx, &d).await?),
                None => None,
            };
            out.push(Packed {
                encoding,
                dict_id,
                body,
            });
        }
        Ok(out)
    }

    /// The dictionary for a body: known in memory, else stored, else made of this body when it is the second
    /// one met with its fingerprint. (A fingerprint met for the first time is only remembered and that body
    /// goes without one: a supplier who sends one CFDI costs no dictionary.)
    async fn dict_for(
        &self,
        tx: &mut WriteTx<'_>,
        kind: &str,
        raw: &[u8],
    ) -> anyhow::Result<Option<Arc<Dict>>> {
        let Some(fp) = fingerprint(kind, raw).filter(|_| raw.len() >= MIN_COMPRESSED) else {
            return Ok(None);
        };
        let key = (kind.to_string(), fp);
        let seen = self
            .packer
            .dicts
            .lock()
            .expect("not poisoned")
            .get(&key)
            .cloned();
        if let Some(Some(d)) = seen {
            return Ok(Some(d));
        }
        let made = match (self.load_dict(tx, &key.0, &key.1).await?, seen) {
            (Some(d), _) => Some(d),
            (None, Some(None)) => Some(new_dict(
                &key.0,
                &key.1,
                cuadra_sdk::sha256_hex(raw),
                raw.to_vec(),
            )?),
            (None, _) => None,
        }
        .map(Arc::new);
        let mut known = self.packer.dicts.lock().expect("not poisoned");
        if made.is_none() && known.len() >= SEEN_ONCE {
            known.retain(|_, d| d.is_some());
        }
        if made.is_some() && known.values().filter(|d| d.is_some()).count() >= HELD_DICTS {
            let least = known
                .iter()
                .filter_map(|(k, d)| d.as_ref().map(|d| (d.used.load(Relaxed), k.clone())))
                .min();
            if let Some((_, k)) = least {
                known.remove(&k);
            }
        }
        known.insert(key, made.clone());
        Ok(made)
    }

    /// The id of `dict`, written in this transaction unless it was already (or is stored).
    async fn dict_id(&self, tx: &mut WriteTx<'_>, dict: &Dict) -> anyhow::Result<i64> {
        if let Some(&id) = tx.dict_ids.get(&dict.sha256) {
            return Ok(id);
        }
        let id = self.ensure_dict(tx, dict).await?;
        tx.dict_ids.insert(dict.sha256.clone(), id);
        Ok(id)
    }

    /// The stored dictionary of (kind, fingerprint), if any.
    async fn load_dict(
        &self,
        tx: &mut WriteTx<'_>,
        kind: &str,
        fp: &str,
    ) -> anyhow::Result<Option<Dict>> {
        let row = sqlx::query(
            "SELECT sha256, body FROM raw_dicts WHERE kind = $1 AND fingerprint = $2 ORDER BY id LIMIT 1",
        )
        .bind(kind)
        .bind(fp)
        .fetch_optional(&mut *tx.tx)
        .await
        .context("reading a compression dictionary")?;
        row.map(|r| new_dict(kind, fp, r.text("sha256")?, r.bytes("body")?))
            .transpose()
    }

    /// Writes `dict` in this transaction unless it is stored already; returns its id.
    async fn ensure_dict(&self, tx: &mut WriteTx<'_>, dict: &Dict) -> anyhow::Result<i64> {
        sqlx::query(
            "INSERT INTO raw_dicts (kind, fingerprint, sha256, body, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(&dict.kind)
        .bind(&dict.fingerprint)
        .bind(&dict.sha256)
        .bind(dict.bytes.clone())
        .bind(self.now_text())
        .execute(&mut *tx.tx)
        .await
        .context("storing a compression dictionary")?;
        sqlx::query("SELECT id FROM raw_dicts WHERE sha256 = $1")
            .bind(&dict.sha256)
            .fetch_one(&mut *tx.tx)
            .await?
            .int("id")
    }

    /// Deliveries kept in the raw inbox under `key`: a raw id (a number), or an external id (a CFDI's UUID,
    /// a statement's or webhook's identity), every version of it in the order received.
    pub async fn raw_deliveries(&self, key: &str) -> anyhow::Result<Vec<RawDelivery>> {
        const COLUMNS: &str =
            "r.id, r.source, r.kind, r.external_id, r.sha256, r.received_at, r.encoding, \
             r.body, d.body AS dict_body";
        let from = "FROM raw_inbox r LEFT JOIN raw_dicts d ON d.id = r.dict_id";
        let rows = match key.trim().parse::<i64>() {
            Ok(id) => {
                sqlx::query(&format!("SELECT {COLUMNS} {from} WHERE r.id = $1"))
                    .bind(id)
                    .fetch_all(self.pool())
                    .await?
            }
            Err(_) => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} {from} WHERE r.external_id = $1 OR r.external_id = $2 ORDER BY r.id"
                ))
                .bind(key.trim())
                .bind(key.trim().to_lowercase())
                .fetch_all(self.pool())
                .await?
            }
        };
        rows.iter()
            .map(|r| {
                let id = r.int("id")?;
                let sha256 = r.text("sha256")?;
                let encoding = r.text("encoding")?;
                let body = r.bytes("body")?;
                let dict = r.opt_bytes("dict_body")?;
                Ok(RawDelivery {
                    id,
                    source: r.text("source")?,
                    kind: r.text("kind")?,
                    external_id: r.text("external_id")?,
                    body: unpack(&encoding, &body, dict.as_deref(), &sha256)
                        .with_context(|| format!("raw delivery {id}"))?,
                    sha256,
                    received_at: r.text("received_at")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issuer_certificate_number_is_the_fingerprint() {
        let cfdi = br#"<cfdi:Comprobante Version="4.0" NoCertificado="30001000000500003416" Certificado="MII"/>"#;
        assert_eq!(
            fingerprint("cfdi", cfdi).as_deref(),
            Some("30001000000500003416")
        );
        assert_eq!(fingerprint("camt053", cfdi), None);
        assert_eq!(fingerprint("cfdi", b"<x NoCertificadoSAT=\"1\"/>"), None);
        assert_eq!(fingerprint("cfdi", b"<x NoCertificado=\"12ab\"/>"), None);
        assert_eq!(fingerprint("cfdi", b"<x NoCertificado=\"123"), None);
        assert_eq!(
            fingerprint("cfdi", b"<x NoCertificado='77'/>").as_deref(),
            Some("77")
        );
    }

    #[test]
    fn bodies_read_back_byte_exact_and_checked() {
        let body: Vec<u8> = b"<a>hola</a>".repeat(100);
        let sha = cuadra_sdk::sha256_hex(&body);
        let plain = zstd::bulk::compress(&body, LEVEL).unwrap();
        assert_eq!(unpack(ZSTD, &plain, None, &sha).unwrap(), body);
        let dict = b"<a>hola</a><a>adios</a>".to_vec();
        let d = new_dict("cfdi", "1", cuadra_sdk::sha256_hex(&dict), dict.clone()).unwrap();
        let packed = d.compressor.lock().unwrap().compress(&body).unwrap();
        assert_eq!(unpack(ZSTD_DICT, &packed, Some(&dict), &sha).unwrap(), body);
        assert_eq!(unpack(IDENTITY, &body, None, &sha).unwrap(), body);
        let err = unpack(ZSTD_DICT, &packed, None, &sha).unwrap_err();
        assert!(err.to_string().contains("dictionary is missing"), "{err}");
        let err = unpack(IDENTITY, b"other", None, &sha).unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
    }
}
