//! The scorer: compares `cuadra report invoices --format json` with `truth.json`, and computes what the simplest
//! reasonable matcher (REPs as imported, then exact amount from a known account) achieves on the same files.

use anyhow::Context;
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

#[derive(Deserialize)]
pub struct Truth {
    pub seed: u64,
    pub company_rfc: String,
    pub invoices: HashMap<String, TruthInvoice>,
}

#[derive(Deserialize)]
pub struct TruthInvoice {
    pub kind: String,
    pub currency: String,
    pub paid: String,
}

pub fn load_truth(path: &Path) -> anyhow::Result<Truth> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not a truth file written by generate", path.display()))
}

fn dec(s: &str, what: &str) -> anyhow::Result<Decimal> {
    Decimal::from_str(s.trim()).with_context(|| format!("{what}: {s:?} is not a decimal amount"))
}

/// `paid` per invoice UUID (upper-case) from a `report invoices --format json` file.
pub fn load_report(path: &Path) -> anyhow::Result<HashMap<String, Decimal>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let rows: Vec<HashMap<String, serde_json::Value>> = serde_json::from_slice(&bytes)
        .with_context(|| {
            format!(
                "{}: expected the JSON array `cuadra report invoices --format json` prints",
                path.display()
            )
        })?;
    let mut out = HashMap::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        let get = |k: &str| r.get(k).and_then(|v| v.as_str()).unwrap_or("");
        let uuid = get("uuid").to_uppercase();
        anyhow::ensure!(
            !uuid.is_empty(),
            "{}: row {} has no uuid",
            path.display(),
            i + 1
        );
        out.insert(
            uuid,
            dec(
                get("paid"),
                &format!("{}: row {} paid", path.display(), i + 1),
            )?,
        );
    }
    Ok(out)
}

#[derive(Default, Clone)]
pub struct KindScore {
    pub invoices: u64,
    pub exact: u64,
    pub under: u64,
    pub over: u64,
}

#[derive(Default)]
pub struct Score {
    pub by_kind: BTreeMap<String, KindScore>,
    pub invoices: u64,
    pub exact: u64,
    pub missing: u64,
    /// Invoices the truth says received money, and how many of them are exact.
    pub paid_invoices: u64,
    pub paid_exact: u64,
    /// Money allocated beyond what the truth says an invoice was paid, per currency: money applied to a wrong
    /// invoice (or counted twice).
    pub wrong_money: BTreeMap<String, Decimal>,
    /// Money the truth says was paid that the ledger does not show, per currency.
    pub missed_money: BTreeMap<String, Decimal>,
}

impl Score {
    pub fn exact_share(&self) -> f64 {
        self.exact as f64 / self.invoices.max(1) as f64
    }
    pub fn wrong_total(&self) -> Decimal {
        self.wrong_money.values().copied().sum()
    }
}

pub fn score(truth: &Truth, paid: &HashMap<String, Decimal>) -> anyhow::Result<Score> {
    let mut s = Score::default();
    for (uuid, t) in &truth.invoices {
        let want = dec(&t.paid, &format!("truth {uuid} paid"))?;
        let got = match paid.get(&uuid.to_uppercase()) {
            Some(p) => *p,
            None => {
                s.missing += 1;
                Decimal::ZERO
            }
        };
        let k = s.by_kind.entry(t.kind.clone()).or_default();
        k.invoices += 1;
        s.invoices += 1;
        if want > Decimal::ZERO {
            s.paid_invoices += 1;
            s.paid_exact += u64::from(got == want);
        }
        if got == want {
            k.exact += 1;
            s.exact += 1;
        } else if got > want {
            k.over += 1;
            *s.wrong_money.entry(t.currency.clone()).or_default() += got - want;
        } else {
            k.under += 1;
            *s.missed_money.entry(t.currency.clone()).or_default() += want - got;
        }
    }
    Ok(s)
}

pub fn print(label_a: &str, a: Option<&Score>, label_b: &str, b: Option<&Score>) {
    let kinds: Vec<String> = a
        .into_iter()
        .chain(b)
        .flat_map(|s| s.by_kind.keys().cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let cell = |s: Option<&Score>, k: &str| match s.and_then(|s| s.by_kind.get(k)) {
        Some(x) => format!(
            "{:>6.1}% {:>5} {:>5}",
            100.0 * x.exact as f64 / x.invoices.max(1) as f64,
            x.under,
            x.over
        ),
        None => format!("{:>19}", "-"),
    };
    println!(
        "{:<14} {:>8}   {:<19}   {:<19}",
        "kind", "invoices", label_a, label_b
    );
    println!(
        "{:<14} {:>8}   {:>7} {:>5} {:>5}   {:>7} {:>5} {:>5}",
        "", "", "exact", "under", "over", "exact", "under", "over"
    );
    for k in &kinds {
        let n = a
            .or(b)
            .and_then(|s| s.by_kind.get(k))
            .map_or(0, |x| x.invoices);
        println!("{k:<14} {n:>8}   {}   {}", cell(a, k), cell(b, k));
    }
    for (label, s) in [(label_a, a), (label_b, b)] {
        let Some(s) = s else { continue };
        let money = |m: &BTreeMap<String, Decimal>| {
            if m.is_empty() {
                "0".to_string()
            } else {
                m.iter()
                    .map(|(c, v)| format!("{v} {c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        println!(
            "{label}: {} of {} invoices exact ({:.2}%; of the {} paid ones {:.2}%); money applied to a wrong invoice: {}; money paid but not applied: {}{}",
            s.exact,
            s.invoices,
            100.0 * s.exact_share(),
            s.paid_invoices,
            100.0 * s.paid_exact as f64 / s.paid_invoices.max(1) as f64,
            money(&s.wrong_money),
            money(&s.missed_money),
            if s.missing > 0 { format!("; {} invoices missing from the report", s.missing) } else { String::new() }
        );
    }
}

/// What "exact amount from a known account" gives: REP allocations as imported, credit notes applied, then each
/// bank credit from an account in the customer master allocated to that customer's oldest open invoice whose
/// balance equals the amount, in the same currency.
pub fn baseline(dir: &Path, company_rfc: &str) -> anyhow::Result<HashMap<String, Decimal>> {
    let mut owner: HashMap<String, String> = HashMap::new();
    let customers = dir.join("customers.csv");
    let mut rdr = csv::Reader::from_path(&customers)
        .with_context(|| format!("cannot read {}", customers.display()))?;
    let headers = rdr.headers()?.clone();
    let col = |n: &str| headers.iter().position(|h| h == n);
    let (rfc_col, clabe_col) = (
        col("rfc").context("customers.csv: no rfc column")?,
        col("clabe").context("customers.csv: no clabe column")?,
    );
    for rec in rdr.records() {
        let rec = rec?;
        for a in rec
            .get(clabe_col)
            .unwrap_or("")
            .split(';')
            .filter(|a| !a.is_empty())
        {
            owner.insert(
                a.trim().to_string(),
                rec.get(rfc_col).unwrap_or("").to_string(),
            );
        }
    }
    struct Inv {
        uuid: String,
        rfc: String,
        currency: String,
        fecha: chrono::NaiveDateTime,
        total: Decimal,
        credited: Decimal,
        paid: Decimal,
    }
    let mut invoices: Vec<Inv> = Vec::new();
    let mut credited: HashMap<String, Decimal> = HashMap::new();
    let mut rep_paid: HashMap<String, Decimal> = HashMap::new();
    let mut on_doc = |bytes: &[u8]| {
        let Ok(c) = cuadra_cfdi::parse(bytes) else {
            return;
        };
        if !c.emisor.rfc.eq_ignore_ascii_case(company_rfc) {
            return;
        }
        let uuid = c
            .uuid
            .as_ref()
            .map(|u| u.as_str().to_uppercase())
            .unwrap_or_default();
        match c.tipo {
            cuadra_cfdi::Tipo::I => invoices.push(Inv {
                uuid,
                rfc: c.receptor.rfc.to_string(),
                currency: c.moneda.as_str().to_string(),
                fecha: c.fecha,
                total: c.total,
                credited: Decimal::ZERO,
                paid: Decimal::ZERO,
            }),
            cuadra_cfdi::Tipo::E => {
                if let Some(rel) = c.relations.iter().find(|r| r.tipo == "01") {
                    if let Some(u) = rel.uuids.first() {
                        *credited.entry(u.as_str().to_uppercase()).or_default() += c.total;
                    }
                }
            }
            cuadra_cfdi::Tipo::P => {
                for p in &c.pagos {
                    for d in &p.doctos {
                        if let (Some(id), Some(amount)) = (&d.id_documento, d.imp_pagado) {
                            *rep_paid.entry(id.to_uppercase()).or_default() += amount;
                        }
                    }
                }
            }
            _ => {}
        }
    };
    for path in files(&dir.join("cfdi"))? {
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        match path.extension().and_then(|e| e.to_str()) {
            Some("zip") => crate::zip::read_stored(&bytes, &mut on_doc)
                .with_context(|| path.display().to_string())?,
            Some("xml") => on_doc(&bytes),
            _ => {}
        }
    }
    for v in invoices.iter_mut() {
        v.credited = credited
            .get(&v.uuid)
            .copied()
            .unwrap_or_default()
            .min(v.total);
        v.paid = rep_paid.get(&v.uuid).copied().unwrap_or_default();
    }
    invoices.sort_by(|a, b| a.fecha.cmp(&b.fecha).then(a.uuid.cmp(&b.uuid)));
    let mut by_rfc: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, v) in invoices.iter().enumerate() {
        by_rfc.entry(v.rfc.as_str()).or_default().push(i);
    }
    let by_rfc: HashMap<String, Vec<usize>> = by_rfc
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let mut seen = HashSet::new();
    let mut credits = Vec::new();
    for path in files(&dir.join("statements"))? {
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let (txns, _, _) = cuadra_bank::camt::parse(&bytes)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        for t in txns {
            if t.amount.amount() <= Decimal::ZERO {
                continue;
            }
            if !seen.insert(format!(
                "{:?}/{:?}/{:?}",
                t.file_account, t.unique_ref, t.part
            )) {
                continue;
            }
            credits.push((
                t.booked_on,
                t.amount.amount(),
                t.amount.currency().as_str().to_string(),
                t.payer_account,
            ));
        }
    }
    credits.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    for (_, amount, currency, account) in credits {
        let Some(rfc) = account.and_then(|a| owner.get(&a).cloned()) else {
            continue;
        };
        let Some(list) = by_rfc.get(&rfc) else {
            continue;
        };
        if let Some(&i) = list.iter().find(|&&i| {
            let v = &invoices[i];
            v.currency == currency && v.total - v.credited - v.paid == amount
        }) {
            invoices[i].paid += amount;
        }
    }
    Ok(invoices.into_iter().map(|v| (v.uuid, v.paid)).collect())
}

/// Files under `dir`, recursively, in name order.
fn files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("cannot list {}", d.display()))? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}
