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
//! `details`, the `:61:` line in `line`. The raw bytes of a payment are its `:61:` line through its last `:86:`
//! line. Each statement's `:20:`, `:28C:`, opening and closing balances (`:60F:`/`:60M:`, `:62F:`/`:62M:`) and the
//! sum of its entries go into its [`StatementHead`].

mod details;
mod line;

use line::{plain_amount, statement_line};

use crate::model::{err_at, Balance, StatementHead, Txn};
use crate::text::{clamped_date, clean, decode_cow, find_byte};
use cuadra_sdk::{Currency, InputError, Money};
use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

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

/// Splits the file into fields, lazily (a million-entry file need not hold all its fields at once).
struct Fields<'a> {
    bytes: &'a [u8],
    pos: usize,
    line_no: u64,
    boundary: bool,
    colon_pending: bool,
    current: Option<Field<'a>>,
}

fn fields(bytes: &[u8]) -> Fields<'_> {
    Fields {
        bytes,
        pos: 0,
        line_no: 0,
        boundary: true,
        colon_pending: false,
        current: None,
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;

    fn next(&mut self) -> Option<Field<'a>> {
        let bytes = self.bytes;
        while self.pos < bytes.len() {
            let pos = self.pos;
            self.line_no += 1;
            let nl = find_byte(&bytes[pos..], b'\n');
            let line_end = nl.map_or(bytes.len(), |i| pos + i);
            let next = nl.map_or(bytes.len(), |i| pos + i + 1);
            let mut content_end = line_end;
            while content_end > pos && matches!(bytes[content_end - 1], b'\r' | b' ' | b'\t') {
                content_end -= 1;
            }
            let mut line = &bytes[pos..content_end];
            let mut line_start = pos;
            self.pos = next;
            // SOH/STX/ETX and other control bytes some transmissions add around messages.
            while let Some((&c, rest)) = line.split_first() {
                if c < 0x20 && c != b'\t' {
                    line = rest;
                    line_start += 1;
                } else {
                    break;
                }
            }
            // At most one field is completed per line; it is returned once the line is processed.
            let mut done = None;
            if line.first() == Some(&b'{') {
                // SWIFT envelope `{1:...}{2:...}{4:`: a message boundary; text after `{4:` is a line of its own.
                done = self.current.take();
                self.boundary = true;
                match find(line, b"{4:") {
                    Some(i) if i + 3 < line.len() => {
                        line_start += i + 3;
                        line = &line[i + 3..];
                    }
                    _ => {
                        if done.is_some() {
                            return done;
                        }
                        continue;
                    }
                }
            }
            if line == b"-" {
                // A lone `-` separates messages in some exports but also wraps `:86:` text (ING): dropped, like
                // mt-940 does; statements are split on `:20:` and envelopes.
                if done.is_some() {
                    return done;
                }
                continue;
            }
            if line.starts_with(b"-}") {
                // (`done` is None here: a line after `{4:` cannot start with `-}` and be this line too.)
                done = done.or(self.current.take());
                self.boundary = true;
                if done.is_some() {
                    return done;
                }
                continue;
            }
            let tagged = if self.colon_pending {
                bare_tag(line)
            } else {
                None
            }
            .or_else(|| tag_of(line));
            self.colon_pending = false;
            if line == b":" {
                self.colon_pending = true;
                if done.is_some() {
                    return done;
                }
                continue;
            }
            match tagged {
                Some((tag, off)) => {
                    let prev = self.current.replace(Field {
                        tag,
                        value: &line[off..],
                        start: line_start,
                        end: content_end,
                        line: self.line_no,
                        after_boundary: std::mem::take(&mut self.boundary),
                    });
                    // `{` lines emptied `current` already, so at most one of the two is set.
                    done = done.or(prev);
                }
                None => {
                    if let Some(f) = self.current.as_mut() {
                        let vstart = f.value.as_ptr() as usize - bytes.as_ptr() as usize;
                        f.value = &bytes[vstart..content_end.max(vstart)];
                        f.end = content_end.max(f.end);
                    }
                }
            }
            if done.is_some() {
                return done;
            }
        }
        self.current.take()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A `:61:` line not yet given its currency.
struct Pending<'a> {
    txn: Txn,
    amount: rust_decimal::Decimal,
    /// The `:86:` values, joined by `\n` (borrowed while there is only one).
    details: Cow<'a, [u8]>,
    /// The `:61:` text after its first line.
    supplementary: &'a [u8],
}

/// Where [`parse_into`] delivers the transactions, in order.
pub(crate) trait Sink {
    /// About `n` transactions are coming (an estimate).
    fn expect(&mut self, n: usize);
    fn push(&mut self, t: Txn);
    /// The statement `head` ended: no more transactions of it (or of earlier ones) follow.
    fn statement_done(&mut self, _head: &Arc<StatementHead>) {}
}

impl Sink for Vec<Txn> {
    fn expect(&mut self, n: usize) {
        self.reserve(n);
    }
    fn push(&mut self, t: Txn) {
        Vec::push(self, t);
    }
}

impl Sink for crate::identity::Finisher<'_> {
    fn expect(&mut self, n: usize) {
        self.reserve(n);
    }
    fn push(&mut self, t: Txn) {
        crate::identity::Finisher::push(self, t);
    }
    fn statement_done(&mut self, head: &Arc<StatementHead>) {
        self.statement_end(head);
    }
}

/// Parses an MT940/MT942 file into transactions. A file without any `:61:`/`:20:`/`:25:` structure is an
/// error; a bad `:61:` line is reported in `problems` and skipped.
pub fn parse(bytes: &[u8]) -> Result<(Vec<Txn>, Vec<InputError>), InputError> {
    let mut txns = Vec::new();
    let problems = parse_into(bytes, &mut txns)?;
    Ok((txns, problems))
}

/// [`parse`], handing each transaction to `sink` as soon as its statement ends. On `Err` nothing was handed.
pub(crate) fn parse_into(
    bytes: &[u8],
    sink: &mut impl Sink,
) -> Result<Vec<InputError>, InputError> {
    let bytes = crate::text::strip_bom(bytes);
    let utf8 = std::str::from_utf8(bytes).is_ok();
    sink.expect(count_statement_lines(bytes));
    let mut problems = Vec::new();
    let mut stmt = StatementState::default();
    let mut scratch = details::Scratch::default();
    let mut index = 0usize;
    let mut started = false;
    // Whether any field shows MT940 structure; only a `:61:` can produce transactions or problems, so
    // without one nothing has reached `sink` by the end.
    let mut structured = false;
    for f in fields(bytes) {
        structured = structured || matches!(f.tag, b"20" | b"25" | b"61" | b"60F" | b"62F");
        let new_statement = f.tag == b"20" || (f.after_boundary && started && !stmt.is_empty());
        if new_statement && started {
            stmt.flush(sink, &mut problems, &mut scratch);
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
        if stmt.line == 0 {
            stmt.line = f.line;
        }
        match f.tag {
            b"20" => stmt.reference = clean(&decode_cow(f.value, utf8)),
            b"28C" | b"28" => {
                stmt.number = clean(&decode_cow(f.value, utf8));
            }
            b"13D" | b"13" => stmt.interim = true,
            b"25" => {
                let (acct, ccy) = split_account(&decode_cow(f.value, utf8));
                stmt.account = acct;
                stmt.account_ccy = ccy;
            }
            b"60F" | b"60M" | b"60" => {
                stmt.opening_ccy = balance_currency(f.value);
                if stmt.opening.is_none() {
                    stmt.opening = balance(f.value);
                }
            }
            b"34F" => {
                stmt.interim = true;
                stmt.closing_ccy = stmt.closing_ccy.or(prefix_currency(f.value));
            }
            b"90C" | b"90D" => {
                stmt.interim = true;
                let v = f.value;
                let skip = v.iter().take_while(|c| c.is_ascii_digit()).count();
                stmt.closing_ccy = stmt
                    .closing_ccy
                    .or(prefix_currency(v.get(skip..).unwrap_or(&[])));
            }
            b"62F" | b"62M" | b"62" => {
                stmt.closing_ccy = balance_currency(f.value).or(stmt.closing_ccy);
                stmt.closing = balance(f.value);
                stmt.owner_open = false;
            }
            b"61" => match statement_line(&f, utf8) {
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
                    if p.details.is_empty() {
                        p.details = Cow::Borrowed(f.value);
                    } else {
                        let d = p.details.to_mut();
                        d.push(b'\n');
                        d.extend_from_slice(f.value);
                    }
                    p.txn.span.end = f.end;
                }
            }
            _ => {}
        }
        stmt.utf8 = utf8;
    }
    if !structured {
        return Err(err_at(
            1,
            None,
            "expected an MT940 statement (fields :20:, :25:, :60F:, :61:), found none",
        ));
    }
    stmt.flush(sink, &mut problems, &mut scratch);
    Ok(problems)
}

/// About how many `:61:` fields `bytes` has (for reserving).
fn count_statement_lines(bytes: &[u8]) -> usize {
    let mut n = 0;
    let mut rest = bytes;
    while let Some(i) = find_byte(rest, b':') {
        rest = &rest[i + 1..];
        if rest.starts_with(b"61:") {
            n += 1;
            rest = &rest[3..];
        }
    }
    n
}

#[derive(Default)]
struct StatementState<'a> {
    index: usize,
    /// Line of the statement's first field.
    line: u64,
    utf8: bool,
    /// `:20:` and `:28C:`.
    reference: Option<String>,
    number: Option<String>,
    opening: Option<Balance>,
    closing: Option<Balance>,
    /// MT942 fields seen (an interim report has no balances).
    interim: bool,
    account: Option<String>,
    account_ccy: Option<Currency>,
    opening_ccy: Option<Currency>,
    closing_ccy: Option<Currency>,
    pending: Vec<Pending<'a>>,
    /// Whether a following `:86:` belongs to the last `:61:`.
    owner_open: bool,
}

impl StatementState<'_> {
    fn is_empty(&self) -> bool {
        self.account.is_none() && self.pending.is_empty() && self.opening_ccy.is_none()
    }

    fn flush(
        &mut self,
        sink: &mut impl Sink,
        problems: &mut Vec<InputError>,
        scratch: &mut details::Scratch,
    ) {
        let ccy = self.opening_ccy.or(self.closing_ccy).or(self.account_ccy);
        let mut sum = Some(rust_decimal::Decimal::ZERO);
        for p in &self.pending {
            sum = sum.and_then(|s| s.checked_add(p.amount));
        }
        let reference = match (&self.reference, &self.number) {
            (Some(r), Some(n)) => Some(format!(":20:{r} :28C:{n}")),
            (Some(r), None) => Some(format!(":20:{r}")),
            (None, Some(n)) => Some(format!(":28C:{n}")),
            (None, None) => None,
        };
        let sequence = self.number.as_deref().and_then(|n| {
            let (s, p) = n.split_once('/').unwrap_or((n, "0"));
            Some((s.trim().parse().ok()?, p.trim().parse().unwrap_or(0)))
        });
        let head = Arc::new(StatementHead {
            index: self.index,
            line: self.line,
            account: self.account.clone(),
            currency: ccy,
            reference,
            sequence,
            opening: self.opening,
            closing: self.closing,
            entries_sum: sum,
            first_booked: self.pending.iter().map(|p| p.txn.booked_on).min(),
            expects_balances: !(self.interim && self.opening.is_none()),
            opening_field: ":60F:",
            closing_field: ":62F:",
        });
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
            t.head = Some(Arc::clone(&head));
            t.file_account.clone_from(&self.account);
            details::apply_with(&mut t, &p.details, self.utf8, scratch);
            if t.concepto.is_none() && !p.supplementary.is_empty() {
                t.concepto = clean(&decode_cow(p.supplementary, self.utf8));
            }
            sink.push(t);
        }
        // Statement indexes only grow: this one is complete.
        sink.statement_done(&head);
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

/// A balance field `C200101EUR444,29` (the currency may be missing: `C020315105000,00`); `None` when garbled.
fn balance(v: &[u8]) -> Option<Balance> {
    // Only the field's first line: header lines of the next message can follow it.
    let v = v.split(|b| *b == b'\n').next()?;
    let v = std::str::from_utf8(v).ok()?.trim();
    let credit = match v.as_bytes().first()? {
        b'C' | b'c' => true,
        b'D' | b'd' => false,
        _ => return None,
    };
    let date = v.get(1..7).and_then(|d| {
        let n = |r: Range<usize>| d.get(r)?.parse::<u32>().ok();
        clamped_date(2000 + n(0..2)? as i32, n(2..4)?, n(4..6)?)
    });
    let mut rest = v.get(7..)?;
    if rest
        .get(..3)
        .is_some_and(|c| c.bytes().all(|b| b.is_ascii_alphabetic()))
    {
        rest = rest.get(3..)?;
    }
    let amount = plain_amount(rest.trim().as_bytes())?;
    Some(Balance {
        amount: if credit { amount } else { -amount },
        date,
    })
}

/// Currency of a balance field `C200101EUR444,29` (None when garbled, e.g. `Dnullnull7414,3`).
fn balance_currency(v: &[u8]) -> Option<Currency> {
    let c = v.get(7..10)?;
    std::str::from_utf8(c)
        .ok()
        .and_then(|s| Currency::parse(s).ok())
}
