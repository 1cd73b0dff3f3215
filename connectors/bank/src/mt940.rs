//! SWIFT MT940 (and MT942) customer statements, with the real-bank quirks of bank.md §5.5.
//!
//! Tokenising follows the Python mt-940 semantics: a field starts at a line `:TAG:` whose tag is known (`20`,
//! `25`, `28C`, `60F`, `61`, `86`, `NS`, ...); any other line continues the current field, so tag-like text inside
//! `:86:` (`:26:` in free text) stays text. Tolerated: CRLF or LF, a BOM, SWIFT envelopes `{1:..}{2:..}{4:` and
//! `-}`, `-` separator lines, header lines before `:20:`, blank lines, a missing final newline, Latin-1 bytes,
//! several statements per file, a missing `:62F:`, `:NS:`/`:13D:`/`:34F:`/`:90C:` (ignored), a line break inside
//! `:61:` or inside the `:86:` marker (Sparkasse), 4 spaces as entry date, 30 February, `RC`/`RD` and lower-case
//! marks, the funds code letter, amounts without a comma or with `.`, `NONREF` without a type id, and
//! customer references longer than 16 characters.
//!
//! Sign: `C` and `RD` (reversal of a debit) are money in; `D` and `RC` are money out. The booking date is the
//! `:61:` entry date (year taken from the value date, moved by a year when they are ≥ 330 days apart) or the
//! value date. Currency comes from `:60F:`/`:60M:`, else `:62F:`, else a currency written after the `:25:`
//! account. The `:86:` sub-structures (German `?NN` with SEPA keywords, Dutch `/TAG/`, free text) are read in
//! [`details`]. The raw bytes of a payment are its `:61:` line through its last `:86:` line.

mod details;

use crate::model::{err_at, Txn};
use crate::text::{
    clamped_date, clean, clean_ref, decode_cow, decode_with, parse_amount, DecimalSep,
};
use chrono::{Datelike, NaiveDate};
use cuadra_sdk::{Currency, InputError, Money};
use std::ops::Range;

/// One `:TAG:value` field: the tag, the value's byte range (continuation lines included) and where it starts.
#[derive(Debug, Clone)]
struct Field<'a> {
    tag: &'a [u8],
    value: &'a [u8],
    start: usize,
    end: usize,
    line: u64,
    /// A message boundary (envelope, `-}`, `-`) came right before this field.
    after_boundary: bool,
}

const KNOWN: &[&[u8]] = &[
    b"20", b"21", b"25", b"28", b"28C", b"60F", b"60M", b"60", b"61", b"62F", b"62M", b"62", b"64",
    b"65", b"65F", b"86", b"NS", b"13", b"13D", b"34F", b"90D", b"90C", b"23", b"25P",
];

/// If `line` starts with `:TAG:`, the tag and the offset of its value.
fn tag_of(line: &[u8]) -> Option<(&[u8], usize)> {
    let rest = line.strip_prefix(b":")?;
    bare_tag(rest).map(|(t, n)| (t, n + 1))
}

/// `TAG:` at the start of `s` (the Sparkasse case where the leading `:` ended the previous line).
fn bare_tag(s: &[u8]) -> Option<(&[u8], usize)> {
    let end = s.iter().take(4).position(|b| *b == b':')?;
    let tag = s.get(..end)?;
    KNOWN.contains(&tag).then_some((tag, end + 1))
}

/// Splits the file into fields.
fn fields(bytes: &[u8]) -> Vec<Field<'_>> {
    let mut out: Vec<Field<'_>> = Vec::with_capacity(bytes.len() / 64);
    let mut pos = 0usize;
    let mut line_no = 0u64;
    let mut boundary = true;
    let mut colon_pending = false;
    let mut current: Option<Field<'_>> = None;
    while pos < bytes.len() {
        line_no += 1;
        let nl = bytes[pos..].iter().position(|b| *b == b'\n');
        let line_end = nl.map_or(bytes.len(), |i| pos + i);
        let next = nl.map_or(bytes.len(), |i| pos + i + 1);
        let mut content_end = line_end;
        while content_end > pos && matches!(bytes[content_end - 1], b'\r' | b' ' | b'\t') {
            content_end -= 1;
        }
        let mut line = &bytes[pos..content_end];
        let mut line_start = pos;
        pos = next;
        // SOH/STX/ETX and other control bytes some transmissions add around messages.
        while let Some((&c, rest)) = line.split_first() {
            if c < 0x20 && c != b'\t' {
                line = rest;
                line_start += 1;
            } else {
                break;
            }
        }
        if line.first() == Some(&b'{') {
            // SWIFT envelope `{1:...}{2:...}{4:`: a message boundary; text after `{4:` is a line of its own.
            out.extend(current.take());
            boundary = true;
            match find(line, b"{4:") {
                Some(i) if i + 3 < line.len() => {
                    line_start += i + 3;
                    line = &line[i + 3..];
                }
                _ => continue,
            }
        }
        if line == b"-" {
            // A lone `-` separates messages in some exports but also wraps `:86:` text (ING): dropped, like
            // mt-940 does; statements are split on `:20:` and envelopes.
            continue;
        }
        if line.starts_with(b"-}") {
            out.extend(current.take());
            boundary = true;
            continue;
        }
        let tagged = if colon_pending { bare_tag(line) } else { None }
            .map(|(t, n)| (t, n, true))
            .or_else(|| tag_of(line).map(|(t, n)| (t, n, false)));
        colon_pending = false;
        if line == b":" {
            colon_pending = true;
            continue;
        }
        match tagged {
            Some((tag, off, _)) => {
                out.extend(current.take());
                current = Some(Field {
                    tag,
                    value: &line[off..],
                    start: line_start,
                    end: content_end,
                    line: line_no,
                    after_boundary: std::mem::take(&mut boundary),
                });
            }
            None => {
                if let Some(f) = current.as_mut() {
                    let vstart = f.value.as_ptr() as usize - bytes.as_ptr() as usize;
                    f.value = &bytes[vstart..content_end.max(vstart)];
                    f.end = content_end.max(f.end);
                }
            }
        }
    }
    out.extend(current);
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A `:61:` line not yet given its currency.
struct Pending {
    txn: Txn,
    amount: rust_decimal::Decimal,
    details: Vec<u8>,
    supplementary: String,
}

/// Parses an MT940/MT942 file into transactions. A file without any `:61:`/`:20:`/`:25:` structure is an
/// error; a bad `:61:` line is reported in `problems` and skipped.
pub fn parse(bytes: &[u8]) -> Result<(Vec<Txn>, Vec<InputError>), InputError> {
    let bytes = crate::text::strip_bom(bytes);
    let utf8 = std::str::from_utf8(bytes).is_ok();
    let fields = fields(bytes);
    if !fields
        .iter()
        .any(|f| matches!(f.tag, b"20" | b"25" | b"61" | b"60F" | b"62F"))
    {
        return Err(err_at(
            1,
            None,
            "expected an MT940 statement (fields :20:, :25:, :60F:, :61:), found none",
        ));
    }
    let mut txns = Vec::with_capacity(fields.iter().filter(|f| f.tag == b"61").count());
    let mut problems = Vec::new();
    let mut stmt = StatementState::default();
    let mut index = 0usize;
    let mut started = false;
    for f in &fields {
        let new_statement = f.tag == b"20" || (f.after_boundary && started && !stmt.is_empty());
        if new_statement && started {
            stmt.flush(&mut txns, &mut problems);
            index += 1;
            // Keep the (drained) buffer's capacity for the next statement.
            let pending = std::mem::take(&mut stmt.pending);
            stmt = StatementState {
                pending,
                ..StatementState::default()
            };
        }
        started = true;
        stmt.index = index;
        match f.tag {
            b"25" => {
                let (acct, ccy) = split_account(&decode_cow(f.value, utf8));
                stmt.account = acct;
                stmt.account_ccy = ccy;
            }
            b"60F" | b"60M" | b"60" => stmt.opening_ccy = balance_currency(f.value),
            b"34F" => stmt.closing_ccy = stmt.closing_ccy.or(prefix_currency(f.value)),
            b"90C" | b"90D" => {
                let v = f.value;
                let skip = v.iter().take_while(|c| c.is_ascii_digit()).count();
                stmt.closing_ccy = stmt
                    .closing_ccy
                    .or(prefix_currency(v.get(skip..).unwrap_or(&[])));
            }
            b"62F" | b"62M" | b"62" => {
                stmt.closing_ccy = balance_currency(f.value).or(stmt.closing_ccy);
                stmt.owner_open = false;
            }
            b"61" => match statement_line(f, utf8) {
                Ok(p) => {
                    stmt.pending.push(p);
                    stmt.owner_open = true;
                }
                Err(e) => {
                    problems.push(e);
                    stmt.owner_open = false;
                }
            },
            b"86" if stmt.owner_open => {
                if let Some(p) = stmt.pending.last_mut() {
                    if !p.details.is_empty() {
                        p.details.push(b'\n');
                    }
                    p.details.extend_from_slice(f.value);
                    p.txn.span.end = f.end;
                }
            }
            _ => {}
        }
        stmt.utf8 = utf8;
    }
    stmt.flush(&mut txns, &mut problems);
    Ok((txns, problems))
}

#[derive(Default)]
struct StatementState {
    index: usize,
    utf8: bool,
    account: Option<String>,
    account_ccy: Option<Currency>,
    opening_ccy: Option<Currency>,
    closing_ccy: Option<Currency>,
    pending: Vec<Pending>,
    /// Whether a following `:86:` belongs to the last `:61:`.
    owner_open: bool,
}

impl StatementState {
    fn is_empty(&self) -> bool {
        self.account.is_none() && self.pending.is_empty() && self.opening_ccy.is_none()
    }

    fn flush(&mut self, txns: &mut Vec<Txn>, problems: &mut Vec<InputError>) {
        let ccy = self.opening_ccy.or(self.closing_ccy).or(self.account_ccy);
        for p in self.pending.drain(..) {
            let Some(ccy) = ccy else {
                problems.push(err_at(
                    p.txn.line,
                    Some(":60F:"),
                    "expected a currency for this statement (:60F: opening balance, :62F: or :25:), found none",
                ));
                continue;
            };
            let mut t = p.txn;
            t.amount = Money::new(p.amount, ccy);
            t.statement = self.index;
            t.file_account = self.account.clone();
            details::apply(&mut t, &p.details, self.utf8);
            if t.concepto.is_none() {
                t.concepto = clean(&p.supplementary);
            }
            txns.push(t);
        }
    }
}

/// `:25:` value → (account, currency written after it).
fn split_account(v: &str) -> (Option<String>, Option<Currency>) {
    let v = v.trim();
    let b = v.as_bytes();
    // The last three bytes must start a character (`ÖÖ` ends in a multi-byte one: no currency there).
    if b.len() > 3 && v.is_char_boundary(v.len() - 3) {
        let (head, tail) = v.split_at(v.len() - 3);
        let prev = head.as_bytes().last().copied().unwrap_or(b' ');
        if tail.bytes().all(|c| c.is_ascii_uppercase()) && (prev.is_ascii_digit() || prev == b' ') {
            if let Ok(c) = Currency::parse(tail) {
                return (clean(head), Some(c));
            }
        }
    }
    (clean(v), None)
}

/// A currency at the start of `v` (`:34F:PLN0`).
fn prefix_currency(v: &[u8]) -> Option<Currency> {
    let c = v.get(..3)?;
    std::str::from_utf8(c)
        .ok()
        .and_then(|s| Currency::parse(s).ok())
}

/// Currency of a balance field `C200101EUR444,29` (None when garbled, e.g. `Dnullnull7414,3`).
fn balance_currency(v: &[u8]) -> Option<Currency> {
    let c = v.get(7..10)?;
    std::str::from_utf8(c)
        .ok()
        .and_then(|s| Currency::parse(s).ok())
}

/// Parses `:61:` (bank.md §5.3) into a pending transaction.
fn statement_line(f: &Field<'_>, utf8: bool) -> Result<Pending, InputError> {
    let v = f.value;
    let bad = |field: &str, msg: String| err_at(f.line, Some(field), msg);
    let digits = |r: Range<usize>| -> Option<u32> {
        let s = v.get(r)?;
        if !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(s).ok()?.parse().ok()
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
    let amt_raw = std::str::from_utf8(&v[amt_start..i]).unwrap_or("");
    let sep = if amt_raw.contains(',') {
        DecimalSep::Comma
    } else {
        DecimalSep::Point
    };
    let amount = parse_amount(amt_raw, sep).map_err(|m| bad(":61: amount", m))?;
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
    let amount = if credit { amount.abs() } else { -amount.abs() };
    Ok(Pending {
        txn,
        amount,
        details: Vec::new(),
        supplementary: decode_with(supplementary, utf8),
    })
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
