//! The `:61:` statement line (bank.md §5.3): value and entry dates, mark, amount, references, and the pending
//! transaction it becomes until its statement's currency is known.

use super::{find, Field, Pending};
use crate::model::{err_at, Txn};
use crate::text::{clamped_date, clean_ref, decode_cow, parse_amount, DecimalSep};
use chrono::{Datelike, NaiveDate};
use cuadra_sdk::{Currency, InputError, Money};
use std::borrow::Cow;
use std::ops::Range;

/// Parses `:61:` (bank.md §5.3) into a pending transaction.
pub(super) fn statement_line<'a>(f: &Field<'a>, utf8: bool) -> Result<Pending<'a>, InputError> {
    let v = f.value;
    let bad = |field: &str, msg: String| err_at(f.line, Some(field), msg);
    let digits = |r: Range<usize>| -> Option<u32> {
        let s = v.get(r)?;
        s.iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit()
                .then(|| n.wrapping_mul(10).wrapping_add(u32::from(c - b'0')))
        })
    };
    let (yy, mm, dd) = match (digits(0..2), digits(2..4), digits(4..6)) {
        (Some(y), Some(m), Some(d)) => (y, m, d),
        _ => {
            return Err(bad(
                ":61: value date",
                format!("expected YYMMDD, found {:?}", lossy(v.get(..6))),
            ))
        }
    };
    let value_date = clamped_date(2000 + yy as i32, mm, dd).ok_or_else(|| {
        bad(
            ":61: value date",
            format!("{yy:02}{mm:02}{dd:02} is not a date"),
        )
    })?;
    let mut i = 6;
    let mut entry_date = None;
    if let (Some(m), Some(d)) = (digits(6..8), digits(8..10)) {
        entry_date = entry_date_near(value_date, m, d);
        i = 10;
    } else if v.get(6..10) == Some(b"    ") {
        i = 10;
    }
    // `RC`/`RD`: the entry reverses an earlier one (a returned credit, a debit taken back).
    let reversal = v.get(i).is_some_and(|c| c.eq_ignore_ascii_case(&b'R'));
    let mut credit = match v.get(i).map(u8::to_ascii_uppercase) {
        Some(b'C') => true,
        Some(b'D') => false,
        Some(b'R') => match v.get(i + 1).map(u8::to_ascii_uppercase) {
            Some(b'C') => {
                i += 1;
                false
            }
            Some(b'D') => {
                i += 1;
                true
            }
            _ => return Err(bad(":61: mark", "expected C, D, RC or RD".into())),
        },
        _ => {
            return Err(bad(
                ":61: mark",
                format!(
                    "expected C, D, RC or RD, found {:?}",
                    lossy(v.get(i..i + 1))
                ),
            ))
        }
    };
    i += 1;
    if v.get(i).is_some_and(u8::is_ascii_alphabetic) {
        i += 1; // funds code (3rd letter of the currency)
    }
    while matches!(v.get(i), Some(b'\n' | b'\r' | b' ')) {
        i += 1;
    }
    let amt_start = i;
    while v
        .get(i)
        .is_some_and(|c| c.is_ascii_digit() || *c == b',' || *c == b'.')
    {
        i += 1;
    }
    let amount = match plain_amount(&v[amt_start..i]) {
        Some(a) => a,
        None => {
            let amt_raw = std::str::from_utf8(&v[amt_start..i]).unwrap_or("");
            let sep = if amt_raw.contains(',') {
                DecimalSep::Comma
            } else {
                DecimalSep::Point
            };
            parse_amount(amt_raw, sep).map_err(|m| bad(":61: amount", m))?
        }
    };
    if amount.is_sign_negative() {
        credit = !credit;
    }
    let first_line_end = v[i..]
        .iter()
        .position(|b| *b == b'\n')
        .map_or(v.len(), |p| i + p);
    let rest = &v[i..first_line_end];
    let rest = if rest.len() >= 6 && rest[..6].eq_ignore_ascii_case(b"NONREF") {
        rest
    } else if rest.len() >= 4 && matches!(rest[0].to_ascii_uppercase(), b'N' | b'F' | b'S') {
        &rest[4..]
    } else {
        rest
    };
    let (cust, bank) = match find(rest, b"//") {
        Some(p) => (&rest[..p], Some(&rest[p + 2..])),
        None => (rest, None),
    };
    let supplementary = v.get(first_line_end + 1..).unwrap_or(&[]);
    // The currency is set when the statement ends (`StatementState::flush`).
    let mut txn = Txn::new(entry_date.unwrap_or(value_date), Money::zero(Currency::MXN));
    txn.value_date = Some(value_date);
    txn.bank_reference = bank.and_then(|b| clean_ref(&decode_cow(b, utf8)));
    txn.other_refs.extend(clean_ref(&decode_cow(cust, utf8)));
    txn.span = f.start..f.end;
    txn.line = f.line;
    if reversal {
        txn.status = Some("reversal".into());
    }
    let amount = if credit { amount.abs() } else { -amount.abs() };
    Ok(Pending {
        txn,
        amount,
        details: Cow::Borrowed(&[]),
        supplementary,
    })
}

/// The common `:61:` amount `1234,56` (also `1234.56`, `1234,`, `1234`) read straight from its digits, as
/// [`parse_amount`] reads it (same value and scale); `None` for anything else (then `parse_amount` decides).
pub(super) fn plain_amount(b: &[u8]) -> Option<rust_decimal::Decimal> {
    let mut mantissa: u64 = 0;
    let mut digits = 0u32;
    let mut scale: Option<u32> = None;
    let mut int_digits = 0u32;
    for &c in b {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(c - b'0');
                digits += 1;
                if digits > 18 {
                    return None;
                }
                match scale.as_mut() {
                    Some(s) => *s += 1,
                    None => int_digits += 1,
                }
            }
            b',' | b'.' if scale.is_none() => scale = Some(0),
            _ => return None,
        }
    }
    if int_digits == 0 {
        return None;
    }
    let scale = match scale {
        // `1234,` reads as `1234.0`.
        Some(0) => {
            mantissa *= 10;
            1
        }
        Some(s) => s,
        None => 0,
    };
    Some(rust_decimal::Decimal::from_i128_with_scale(
        i128::from(mantissa),
        scale,
    ))
}

/// The entry date `MMDD` in the year that puts it closest to the value date (year-end crossings).
fn entry_date_near(value: NaiveDate, m: u32, d: u32) -> Option<NaiveDate> {
    let y = value.year();
    let cand = clamped_date(y, m, d)?;
    let days = (cand - value).num_days();
    if days >= 330 {
        clamped_date(y - 1, m, d)
    } else if days <= -330 {
        clamped_date(y + 1, m, d)
    } else {
        Some(cand)
    }
}

fn lossy(b: Option<&[u8]>) -> String {
    String::from_utf8_lossy(b.unwrap_or(&[])).into_owned()
}
