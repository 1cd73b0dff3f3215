//! The score per class of noise over *invoice groups*: the invoices one event touches are judged together (a
//! combined transfer's invoices, a double payment's invoice and its same-amount sister, a cancelled invoice and
//! its substitute). Per class: groups, groups exact, groups with money on a wrong invoice (count and amount), and
//! the exceptions `cuadra` left on that class's payments.

use anyhow::Context;
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::str::FromStr;

#[derive(Deserialize)]
struct Truth {
    invoices: HashMap<String, Inv>,
    #[serde(default)]
    payments: HashMap<String, Pay>,
}

#[derive(Deserialize)]
struct Inv {
    kind: String,
    currency: String,
    paid: String,
    #[serde(default)]
    payments: Vec<String>,
    #[serde(default)]
    group: Option<u64>,
}

#[derive(Deserialize)]
struct Pay {
    kind: String,
    #[serde(default)]
    rastreo: String,
}

#[derive(Default)]
pub struct ClassScore {
    pub groups: u64,
    pub exact: u64,
    pub wrong: u64,
    pub wrong_money: BTreeMap<String, Decimal>,
    pub payments: u64,
    pub exceptions: u64,
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// Scores per class. `paid` is the report's paid amount per upper-case UUID; `exceptions` the payment ids of
/// `report exceptions` and `payments` the `id` → `external_id`/`reference` of `report payments` (both optional).
pub fn by_class(
    truth_path: &Path,
    paid: &HashMap<String, Decimal>,
    exceptions: Option<&[String]>,
    payments: &HashMap<String, Vec<String>>,
) -> anyhow::Result<BTreeMap<String, ClassScore>> {
    let bytes = std::fs::read(truth_path)
        .with_context(|| format!("cannot read {}", truth_path.display()))?;
    let t: Truth = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not a truth file", truth_path.display()))?;
    let mut uuids: Vec<&String> = t.invoices.keys().collect();
    uuids.sort();
    let mut parent: Vec<usize> = (0..uuids.len()).collect();
    let mut first_of: HashMap<String, usize> = HashMap::new();
    for (i, u) in uuids.iter().enumerate() {
        let v = &t.invoices[*u];
        let keys = v
            .payments
            .iter()
            .map(|p| format!("p:{p}"))
            .chain(v.group.map(|g| format!("g:{g}")));
        for k in keys {
            match first_of.get(&k) {
                Some(&j) => {
                    let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                    parent[a] = b;
                }
                None => {
                    first_of.insert(k, i);
                }
            }
        }
    }
    struct G {
        kind: String,
        exact: bool,
        over: BTreeMap<String, Decimal>,
    }
    let mut groups: HashMap<usize, G> = HashMap::new();
    for (i, u) in uuids.iter().enumerate() {
        let v = &t.invoices[*u];
        let want = Decimal::from_str(v.paid.trim())
            .with_context(|| format!("truth {u}: paid {:?}", v.paid))?;
        let got = paid.get(&u.to_uppercase()).copied().unwrap_or_default();
        let root = find(&mut parent, i);
        let g = groups.entry(root).or_insert_with(|| G {
            kind: v.kind.clone(),
            exact: true,
            over: BTreeMap::new(),
        });
        if g.kind == "open" || g.kind == "decoy" {
            g.kind = v.kind.clone();
        }
        g.exact &= got == want;
        if got > want {
            *g.over.entry(v.currency.clone()).or_default() += got - want;
        }
    }
    let mut out: BTreeMap<String, ClassScore> = BTreeMap::new();
    for g in groups.into_values() {
        let c = out.entry(g.kind).or_default();
        c.groups += 1;
        c.exact += u64::from(g.exact);
        if !g.over.is_empty() {
            c.wrong += 1;
            for (cur, m) in g.over {
                *c.wrong_money.entry(cur).or_default() += m;
            }
        }
    }
    // Payments by AcctSvcrRef or clave de rastreo, to put each exception in its class.
    let mut kind_of: HashMap<&str, &str> = HashMap::new();
    for (asr, p) in &t.payments {
        out.entry(p.kind.clone()).or_default().payments += 1;
        kind_of.insert(asr.as_str(), p.kind.as_str());
        // A returned credit and its debit share the clave de rastreo: it names the credit.
        if !p.rastreo.is_empty() && p.kind != "returned" {
            kind_of.entry(p.rastreo.as_str()).or_insert(p.kind.as_str());
        }
    }
    for id in exceptions.unwrap_or(&[]) {
        let kind = payments
            .get(id)
            .into_iter()
            .flatten()
            .flat_map(|s| s.split(|c: char| !c.is_ascii_alphanumeric()))
            .find_map(|tok| kind_of.get(tok).copied())
            .unwrap_or("(not in the truth)");
        out.entry(kind.to_string()).or_default().exceptions += 1;
    }
    Ok(out)
}

/// Reads a `report ... --format json` array as rows of strings.
pub fn rows(path: &Path) -> anyhow::Result<Vec<HashMap<String, String>>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let rows: Vec<HashMap<String, serde_json::Value>> = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: expected a JSON array of rows", path.display()))?;
    Ok(rows
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(|(k, v)| {
                    let s = match v {
                        serde_json::Value::String(s) => s,
                        serde_json::Value::Null => String::new(),
                        other => other.to_string(),
                    };
                    (k, s)
                })
                .collect()
        })
        .collect())
}

pub fn print(classes: &BTreeMap<String, ClassScore>, with_exceptions: bool) {
    println!(
        "{:<14} {:>7} {:>8} {:>7} {:>6}  {:<24} {:>9} {:>10}",
        "class", "groups", "exact", "exact%", "wrong", "wrong money", "payments", "exceptions"
    );
    for (k, c) in classes {
        let money = if c.wrong_money.is_empty() {
            "0".to_string()
        } else {
            c.wrong_money
                .iter()
                .map(|(cur, m)| format!("{m} {cur}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "{k:<14} {:>7} {:>8} {:>6.1}% {:>6}  {money:<24} {:>9} {:>10}",
            c.groups,
            c.exact,
            100.0 * c.exact as f64 / c.groups.max(1) as f64,
            c.wrong,
            c.payments,
            if with_exceptions {
                c.exceptions.to_string()
            } else {
                "-".into()
            }
        );
    }
    let (g, e, w) = classes.values().fold((0, 0, 0), |(g, e, w), c| {
        (g + c.groups, e + c.exact, w + c.wrong)
    });
    println!(
        "invoice groups: {e} of {g} exact ({:.2}%), {w} with money on a wrong invoice",
        100.0 * e as f64 / g.max(1) as f64
    );
}
