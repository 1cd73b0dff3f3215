//! Statements in the other formats Mexican banks export, for `--statement-format mixed`: SWIFT MT940 (German
//! `?NN` subfields in `:86:`: `?20` `EREF+` clave de rastreo, `?21`.. `SVWZ+` concepto, `?31` account, `?32`/`?33`
//! name; a returned credit is an `RC` entry) and the `mx-normalizado` CSV (`FECHA`, `CARGO`, `ABONO`, ...; a
//! return is a `CARGO` row whose description says `DEVOLUCION`).

use super::plan::Plan;
use super::write::{cents, date};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// The format one statement file is written in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Camt,
    Mt940,
    Csv,
}

/// `camt` (every file), or `mixed`: MXN periods rotate camt, MT940, CSV; USD stays camt.
pub fn pick(mixed: bool, usd: bool, week: u16) -> Format {
    if !mixed || usd {
        return Format::Camt;
    }
    match week % 3 {
        0 => Format::Camt,
        1 => Format::Mt940,
        _ => Format::Csv,
    }
}

fn comma(c: u64) -> String {
    cents(c).replace('.', ",")
}

/// Text cut into `?NN` subfields of at most 27 characters, numbered from `first`.
fn subfields(text: &str, first: u32, last: u32) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    for (k, chunk) in chars.chunks(27).enumerate() {
        let n = first + k as u32;
        if n > last {
            break;
        }
        out.push_str(&format!("?{n:02}{}", chunk.iter().collect::<String>()));
    }
    out
}

/// The text a bank prints for a credit: the concepto and, when there is one, the referencia numérica.
fn text_of(c: &super::plan::Credit) -> String {
    match &c.reference {
        Some(r) => format!("{} REF {r}", c.concepto),
        None => c.concepto.clone(),
    }
}

pub fn mt940(
    plan: &Plan,
    path: &Path,
    account: &str,
    ccy: &str,
    week: u16,
    end: chrono::NaiveDate,
    entries: &[usize],
) -> std::io::Result<()> {
    let mut w = BufWriter::new(File::create(path)?);
    let start = end - chrono::Duration::days(6);
    write!(
        w,
        ":20:{ccy}-{week:03}\r\n:25:{account}\r\n:28C:{week}/1\r\n:60F:C{}{ccy}0,00\r\n",
        start.format("%y%m%d")
    )?;
    let mut balance: i64 = 0;
    for &i in entries {
        let c = &plan.credits[i];
        let d = date(c.day);
        let (mark, code) = if c.debit {
            ("RC", "NRTI")
        } else {
            ("C", "NTRF")
        };
        balance += if c.debit {
            -(c.amount as i64)
        } else {
            c.amount as i64
        };
        write!(
            w,
            ":61:{}{}{mark}{}{code}{}//{}\r\n:86:{}?00{}?20EREF+{}{}",
            d.format("%y%m%d"),
            d.format("%m%d"),
            comma(c.amount),
            c.asr,
            c.rastreo,
            if c.debit { "159" } else { "166" },
            if c.debit {
                "DEVOLUCION SPEI"
            } else {
                "SPEI RECIBIDO"
            },
            c.rastreo,
            subfields(&format!("SVWZ+{}", text_of(c)), 21, 29)
        )?;
        if let Some(a) = &c.payer_account {
            write!(w, "?31{a}")?;
        }
        let name: Vec<char> = c.payer_name.chars().collect();
        for (k, chunk) in name.chunks(27).take(2).enumerate() {
            write!(w, "?{}{}", 32 + k, chunk.iter().collect::<String>())?;
        }
        write!(w, "\r\n")?;
    }
    // One bank fee per statement, as in camt.
    balance -= 812;
    write!(
        w,
        ":61:{}{}D8,12NCHGFEE{ccy}{week:05}\r\n:86:805?00COMISION SPEI?20COMISION SPEI\r\n",
        end.format("%y%m%d"),
        end.format("%m%d")
    )?;
    let (sign, abs) = if balance < 0 {
        ("D", (-balance) as u64)
    } else {
        ("C", balance as u64)
    };
    write!(
        w,
        ":62F:{sign}{}{ccy}{}\r\n-\r\n",
        end.format("%y%m%d"),
        comma(abs)
    )?;
    w.flush()
}

fn csv_cell(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

pub fn csv(
    plan: &Plan,
    path: &Path,
    account: &str,
    end: chrono::NaiveDate,
    entries: &[usize],
) -> std::io::Result<()> {
    let mut w = BufWriter::new(File::create(path)?);
    writeln!(
        w,
        "CUENTA,FECHA,DESCRIPCIÓN,REFERENCIA,CLAVE,REFERENCIA BANCARIA,BENEFICIARIO,CARGO,ABONO,TIPO MOVIMIENTO"
    )?;
    for &i in entries {
        let c = &plan.credits[i];
        let (cargo, abono) = if c.debit {
            (cents(c.amount), String::new())
        } else {
            (String::new(), cents(c.amount))
        };
        writeln!(
            w,
            "{account},{},{},{},{},{},{},{cargo},{abono},{}",
            date(c.day).format("%d/%m/%Y"),
            csv_cell(&text_of(c)),
            c.reference.as_deref().unwrap_or(""),
            c.rastreo,
            c.asr,
            csv_cell(&c.payer_name),
            if c.debit {
                "DEVOLUCION SPEI"
            } else {
                "ABONO SPEI"
            }
        )?;
    }
    writeln!(
        w,
        "{account},{},\"COMISION SPEI\",,,FEE{},,8.12,,CARGO",
        end.format("%d/%m/%Y"),
        end.format("%Y%m%d")
    )?;
    w.flush()
}
