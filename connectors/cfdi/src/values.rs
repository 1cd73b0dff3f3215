//! Attribute value helpers: text borrowed from the input, exact decimals, dates, UUIDs and currencies, each error
//! pointing at the attribute value's own line and column.

use crate::error::{ErrorKind, ParseError};
use chrono::{NaiveDate, NaiveDateTime};
use cuadra_sdk::{parse_decimal, to_micros, CfdiUuid, Currency};
use quick_xml::events::BytesStart;
use rust_decimal::Decimal;
use std::borrow::Cow;

/// One attribute: key and raw value, both borrowed from the input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attr<'a> {
    pub key: &'a [u8],
    pub value: &'a [u8],
}

impl<'a> Attr<'a> {
    /// The value as text, unescaped (borrowed unless it has entity or character references).
    fn unescape_value(&self) -> Result<Cow<'a, str>, String> {
        let text = std::str::from_utf8(self.value).map_err(|e| format!("not UTF-8: {e}"))?;
        let has_ref = if self.value.len() <= 32 {
            self.value.contains(&b'&')
        } else {
            memchr::memchr(b'&', self.value).is_some()
        };
        if !has_ref {
            return Ok(Cow::Borrowed(text));
        }
        quick_xml::escape::unescape(text).map_err(|e| e.to_string())
    }
}

/// Attributes of one element, scanned once (namespace declarations and values are both read from this list).
pub(crate) type AttrList<'a> = Vec<Attr<'a>>;

/// Duplicate names are refused among the first `DUP_WINDOW` attributes of an element (CFDI elements have fewer).
const DUP_WINDOW: usize = 32;

/// XML white space between attributes: space, tab, CR, LF.
#[inline]
fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// Bytes that end an attribute name: white space or `=`.
static KEY_END: [bool; 256] = {
    let mut t = [false; 256];
    t[b' ' as usize] = true;
    t[b'\t' as usize] = true;
    t[b'\r' as usize] = true;
    t[b'\n' as usize] = true;
    t[b'=' as usize] = true;
    t
};

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The eight bytes of `s` from `i` as a little-endian word, when there are eight.
#[inline(always)]
fn word_at(s: &[u8], i: usize) -> Option<u64> {
    let b: [u8; 8] = s.get(i..i.wrapping_add(8))?.try_into().ok()?;
    Some(u64::from_le_bytes(b))
}

/// High bit set in each byte of `w` that is zero; exact for the lowest such byte (higher ones may be false
/// positives, so only the lowest flagged byte is ever used).
#[inline(always)]
fn zero_bytes(w: u64) -> u64 {
    w.wrapping_sub(LO) & !w & HI
}

/// Length of the attribute name at the start of `s` (up to the first white space or `=`, or the end) and the
/// name's first eight bytes as a word (zero-padded; for the duplicate check's hash). Eight bytes at a time; a
/// flagged control byte that is not white space is part of the name and stepped over.
#[inline(always)]
fn key_len(s: &[u8]) -> (usize, u64) {
    let mut i = 0;
    let mut head = None;
    while let Some(w) = word_at(s, i) {
        // Bytes equal to '=' or below 0x21 (white space is 0x09, 0x0A, 0x0D, 0x20).
        let m = zero_bytes(w ^ (LO * u64::from(b'='))) | (w.wrapping_sub(LO * 0x21) & !w & HI);
        let head = *head.get_or_insert(w);
        if m == 0 {
            i += 8;
            continue;
        }
        let j = i + (m.trailing_zeros() / 8) as usize;
        if s.get(j).is_some_and(|&c| KEY_END[usize::from(c)]) {
            return (j, mask_low(head, j));
        }
        i = j + 1;
    }
    while s.get(i).is_some_and(|&c| !KEY_END[usize::from(c)]) {
        i += 1;
    }
    let head = head.unwrap_or_else(|| {
        let mut b = [0u8; 8];
        for (d, c) in b.iter_mut().zip(s) {
            *d = *c;
        }
        u64::from_le_bytes(b)
    });
    (i, mask_low(head, i))
}

/// The low `n` bytes of `w` (all of them from eight on).
#[inline(always)]
fn mask_low(w: u64, n: usize) -> u64 {
    if n < 8 {
        w & !(u64::MAX << (n * 8))
    } else {
        w
    }
}

/// Position of the quote `q` closing a value at the start of `s`: eight bytes at a time over the first 32 bytes
/// (most values are short, where this beats a memchr call), then memchr.
#[inline(always)]
fn quote_pos(s: &[u8], q: u8) -> Option<usize> {
    let pat = LO * u64::from(q);
    let mut i = 0;
    for _ in 0..4 {
        let Some(w) = word_at(s, i) else {
            return s.get(i..)?.iter().position(|&c| c == q).map(|j| i + j);
        };
        let m = zero_bytes(w ^ pat);
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    memchr::memchr(q, s.get(i..)?).map(|j| i + j)
}

#[inline(always)]
fn skip_ws(mut s: &[u8]) -> &[u8] {
    while let [c, tail @ ..] = s {
        if !is_ws(*c) {
            break;
        }
        s = tail;
    }
    s
}

/// Why an attribute is malformed.
#[derive(Clone, Copy)]
enum Bad {
    NoValue,
    NotQuoted,
    Unclosed,
    Duplicate,
}

#[cold]
#[inline(never)]
fn bad(kind: Bad, key: &[u8]) -> String {
    let key = String::from_utf8_lossy(key);
    match kind {
        Bad::NoValue => format!("attribute {key:?} has no value"),
        Bad::NotQuoted => format!("attribute {key:?} value is not quoted"),
        Bad::Unclosed => format!("attribute {key:?} value has no closing quote"),
        Bad::Duplicate => format!("duplicate attribute {key:?}"),
    }
}

/// Scans the attributes of an element (its bytes between `<` and `>`, after the name) into `out`, refusing the
/// first malformed one: a name without `=`, an unquoted value, a value without a closing quote, or a name
/// already seen among the first 32 attributes (a 512-bit set of name hashes filters the comparisons).
pub(crate) fn scan_attributes<'a>(
    mut rest: &'a [u8],
    out: &mut AttrList<'a>,
) -> Result<(), String> {
    out.clear();
    let mut seen = [0u64; 8];
    loop {
        rest = skip_ws(rest);
        if rest.is_empty() {
            return Ok(());
        }
        let (klen, head) = key_len(rest);
        let (key, tail) = rest.split_at_checked(klen).unwrap_or((rest, &[]));
        // `=` and the opening quote, white space allowed around `=`.
        let tail = match tail {
            [b'=', tail @ ..] => tail,
            _ => match skip_ws(tail) {
                [b'=', tail @ ..] => tail,
                _ => return Err(bad(Bad::NoValue, key)),
            },
        };
        let (quote, tail) = match tail {
            [q @ (b'"' | b'\''), tail @ ..] => (*q, tail),
            _ => match skip_ws(tail) {
                [q @ (b'"' | b'\''), tail @ ..] => (*q, tail),
                _ => return Err(bad(Bad::NotQuoted, key)),
            },
        };
        let Some(vlen) = quote_pos(tail, quote) else {
            return Err(bad(Bad::Unclosed, key));
        };
        let (value, tail) = tail.split_at_checked(vlen).unwrap_or((tail, &[]));
        rest = tail.get(1..).unwrap_or_default();
        let h = head
            .wrapping_add(klen as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            >> 55;
        let bit = 1u64 << (h & 63);
        let n = out.len();
        if let Some(word) = seen.get_mut((h >> 6) as usize) {
            if *word & bit != 0 {
                let window = out.get(..n.min(DUP_WINDOW)).unwrap_or_default();
                if window.iter().any(|a| a.key == key) {
                    return Err(bad(Bad::Duplicate, key));
                }
            }
            if n < DUP_WINDOW {
                *word |= bit;
            }
        }
        out.push(Attr { key, value });
    }
}

/// Scans the attributes of `e` into `out`, with values borrowed from `input`, and returns the element's
/// qualified name (also borrowed from `input`). The element's bytes are located in `input` by address (the reader
/// borrows from it), so this needs no unsafe code.
pub(crate) fn attributes<'a>(
    input: &'a [u8],
    pos: u64,
    e: &BytesStart<'_>,
    out: &mut AttrList<'a>,
) -> Result<&'a [u8], ParseError> {
    let base = input.as_ptr() as usize;
    let at = (e.as_ptr() as usize).wrapping_sub(base);
    let raw = input
        .get(at..at.saturating_add(e.len()))
        .filter(|r| r.as_ptr() == e.as_ptr());
    let Some(raw) = raw else {
        out.clear();
        return Err(ParseError::at(
            input,
            pos,
            ErrorKind::Malformed,
            "element text is not part of the input (internal reader error)",
        ));
    };
    let (name, rest) = raw
        .split_at_checked(e.name().as_ref().len())
        .unwrap_or((raw, &[]));
    match scan_attributes(rest, out) {
        Ok(()) => Ok(name),
        Err(err) => Err(ParseError::at(
            input,
            pos,
            ErrorKind::Malformed,
            format!("malformed attribute: {err}"),
        )),
    }
}

/// Byte offset of `a`'s value in `input` (values are borrowed from the input when it is a slice).
fn value_offset(input: &[u8], a: &Attr<'_>) -> u64 {
    let start = input.as_ptr() as usize;
    let v = a.value.as_ptr() as usize;
    if v >= start && v <= start + input.len() {
        (v - start) as u64
    } else {
        0
    }
}

pub(crate) fn invalid(input: &[u8], a: &Attr<'_>, field: &str, msg: String) -> ParseError {
    ParseError::at(input, value_offset(input, a), ErrorKind::Invalid, msg).with_field(field)
}

/// The unescaped text of an attribute (borrowed unless it has entity or character references).
pub(crate) fn attr_text<'a>(
    input: &[u8],
    a: &Attr<'a>,
    field: &str,
) -> Result<Cow<'a, str>, ParseError> {
    a.unescape_value().map_err(|e| {
        ParseError::at(
            input,
            value_offset(input, a),
            ErrorKind::Malformed,
            format!("attribute value is not valid text: {e}"),
        )
        .with_field(field)
    })
}

/// A plain `digits[.digits]` amount (at most 18 digits, the '.' neither first nor last) read straight from the
/// bytes: the same value and scale `parse_decimal` gives for it. Anything else (signs, white space, a leading or
/// trailing '.', references, long numbers) is left to `parse_decimal`.
fn plain_decimal(v: &[u8]) -> Option<Decimal> {
    if v.is_empty() || v.len() > 18 {
        return None;
    }
    let mut mantissa: u64 = 0;
    let mut scale = 0u32;
    for (i, &c) in v.iter().enumerate() {
        match c {
            b'0'..=b'9' => mantissa = mantissa * 10 + u64::from(c - b'0'),
            b'.' if scale == 0 && i > 0 && i + 1 < v.len() => {
                scale = u32::try_from(v.len() - i - 1).ok()?
            }
            _ => return None,
        }
    }
    Decimal::try_from_i128_with_scale(i128::from(mantissa), scale).ok()
}

/// An amount the ledger stores (`t_Importe`: `Total`, `SubTotal`, `Monto`, `ImpPagado`, ...): a decimal that is
/// not negative (SAT's schema has no negative amounts; a negative `Total` would become a negative balance) and
/// fits the ledger's micro-units exactly (at most 6 decimals, within the i64 range). Anything else fails the
/// document with this field named, so the rest of a folder or package still imports.
pub(crate) fn parse_amount(input: &[u8], a: &Attr<'_>, field: &str) -> Result<Decimal, ParseError> {
    let d = parse_rate(input, a, field)?;
    if d.is_sign_negative() && !d.is_zero() {
        return Err(invalid(
            input,
            a,
            field,
            format!("{d} is negative; CFDI amounts are never negative"),
        ));
    }
    if let Err(e) = to_micros(d) {
        return Err(invalid(input, a, field, e.to_string()));
    }
    Ok(d)
}

/// A decimal read as written, any sign or scale (exchange rates: `TipoCambio`, `EquivalenciaDR` has up to 10
/// decimals and is never stored as money).
pub(crate) fn parse_rate(input: &[u8], a: &Attr<'_>, field: &str) -> Result<Decimal, ParseError> {
    if let Some(d) = plain_decimal(a.value) {
        return Ok(d);
    }
    let t = attr_text(input, a, field)?;
    parse_decimal(&t).map_err(|_| {
        invalid(
            input,
            a,
            field,
            format!("{t:?} is not a decimal number (expected digits with an optional '.')"),
        )
    })
}

pub(crate) fn parse_currency(
    input: &[u8],
    a: &Attr<'_>,
    field: &str,
) -> Result<Currency, ParseError> {
    let t = attr_text(input, a, field)?;
    Currency::parse_known(&t).map_err(|_| {
        invalid(
            input,
            a,
            field,
            format!("{t:?} is not a currency of SAT's c_Moneda catalog (ISO 4217 codes and XXX)"),
        )
    })
}

pub(crate) fn parse_uuid(input: &[u8], a: &Attr<'_>, field: &str) -> Result<CfdiUuid, ParseError> {
    let t = attr_text(input, a, field)?;
    CfdiUuid::parse(&t).map_err(|_| {
        invalid(
            input,
            a,
            field,
            format!("{t:?} is not a UUID (36 characters, 8-4-4-4-12 hexadecimal digits)"),
        )
    })
}

pub(crate) fn parse_u32(input: &[u8], a: &Attr<'_>, field: &str) -> Result<u32, ParseError> {
    let t = attr_text(input, a, field)?;
    t.trim()
        .parse::<u32>()
        .map_err(|_| invalid(input, a, field, format!("{t:?} is not a whole number")))
}

pub(crate) fn parse_fecha(
    input: &[u8],
    a: &Attr<'_>,
    field: &str,
) -> Result<NaiveDateTime, ParseError> {
    // The usual exact form, read from the bytes (the same result as the text path below gives for it).
    if let Some(Some(d)) = fecha_fixed(a.value) {
        return Ok(d);
    }
    let t = attr_text(input, a, field)?;
    fecha(&t).ok_or_else(|| {
        invalid(
            input,
            a,
            field,
            format!("{t:?} is not a date-time of the form YYYY-MM-DDThh:mm:ss"),
        )
    })
}

/// The fixed 19-byte shape `YYYY-MM-DDThh:mm:ss` (or with a space for `T`): `None` when `b` does not have
/// that shape's length and separators, else the date-time if the digits make a valid one.
fn fecha_fixed(b: &[u8]) -> Option<Option<NaiveDateTime>> {
    if b.len() != 19 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let sep = *b.get(10)?;
    if !((sep == b'T' || sep == b' ') && b.get(13) == Some(&b':') && b.get(16) == Some(&b':')) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let mut v = 0u32;
        for &c in b.get(r)? {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
        }
        Some(v)
    };
    let dt = || {
        let date =
            NaiveDate::from_ymd_opt(i32::try_from(num(0..4)?).ok()?, num(5..7)?, num(8..10)?)?;
        date.and_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)
    };
    Some(dt())
}

/// `YYYY-MM-DDThh:mm:ss` (t_FechaH), fast path; fractional seconds are tolerated via chrono.
pub fn fecha(s: &str) -> Option<NaiveDateTime> {
    if let Some(d) = fecha_fixed(s.trim().as_bytes()) {
        return d;
    }
    let t = s.trim();
    NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f"))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fecha_forms() {
        assert_eq!(
            fecha("2024-04-10T13:00:04").map(|d| d.to_string()),
            Some("2024-04-10 13:00:04".to_string())
        );
        assert!(fecha("2024-02-30T13:00:04").is_none());
        assert!(fecha("2024-04-10T25:00:04").is_none());
        assert!(fecha("2024-04-10T13:00:04.123").is_some());
        assert!(fecha("2024-04-10 13:00:04").is_some());
        assert!(fecha("10/04/2024").is_none());
        assert!(fecha("").is_none());
    }

    #[test]
    fn scan_refuses_duplicates_in_the_first_32_names_only() {
        let names: Vec<String> = (0..40).map(|i| format!("A{i}")).collect();
        let tag = |extra: &str| {
            let mut t = String::new();
            for n in &names {
                t.push_str(&format!(" {n}=\"v\""));
            }
            t.push_str(extra);
            t
        };
        let tags = [
            tag(""),
            tag(" A31='w'"),
            tag(" A0='w'"),
            tag(" A32='w'"),
            tag(" A39='w'"),
        ];
        let mut out = AttrList::new();
        assert!(scan_attributes(tags[0].as_bytes(), &mut out).is_ok());
        assert_eq!(out.len(), 40);
        assert!(scan_attributes(tags[1].as_bytes(), &mut out).is_err());
        assert!(scan_attributes(tags[2].as_bytes(), &mut out).is_err());
        assert!(scan_attributes(tags[3].as_bytes(), &mut out).is_ok());
        assert!(scan_attributes(tags[4].as_bytes(), &mut out).is_ok());
        assert_eq!(
            scan_attributes(b" a b='c'", &mut out),
            Err("attribute \"a\" has no value".to_string())
        );
        assert_eq!(
            scan_attributes(b" a = c", &mut out),
            Err("attribute \"a\" value is not quoted".to_string())
        );
        assert_eq!(
            scan_attributes(b" a = 'c", &mut out),
            Err("attribute \"a\" value has no closing quote".to_string())
        );
        assert!(scan_attributes(b" a\x01b = 'c' =\"d\"\t", &mut out).is_ok());
        let got: Vec<_> = out.iter().map(|a| (a.key, a.value)).collect();
        assert_eq!(
            got,
            vec![(&b"a\x01b"[..], &b"c"[..]), (&b""[..], &b"d"[..])]
        );
    }

    #[test]
    fn plain_decimal_agrees_with_parse_decimal() {
        let mut cases: Vec<String> = [
            "0",
            "00",
            "0.0",
            "0.00",
            "1",
            "1.5",
            "1.50",
            "007.10",
            "17.1234",
            "123456789012345678",
            "12345678901234567.8",
            "1234567890123456789",
            ".5",
            "5.",
            "1..2",
            "1.2.3",
            "+1",
            "-1",
            " 1",
            "1 ",
            "",
            ".",
            "1e5",
            "1,5",
            "0.000000000000001",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = 1 + (x % 20) as usize;
            let s: String = (0..len)
                .map(|i| {
                    let r = (x >> (i * 3 % 60)) % 13;
                    if r < 10 {
                        char::from(b'0' + r as u8)
                    } else if r == 10 {
                        '.'
                    } else {
                        char::from(b'0' + (x >> 7) as u8 % 10)
                    }
                })
                .collect();
            cases.push(s);
        }
        let mut fast = 0;
        for c in &cases {
            if let Some(d) = plain_decimal(c.as_bytes()) {
                fast += 1;
                let e = parse_decimal(c)
                    .unwrap_or_else(|_| panic!("{c:?} is rejected by parse_decimal"));
                assert_eq!(
                    (d.mantissa(), d.scale(), d.to_string()),
                    (e.mantissa(), e.scale(), e.to_string()),
                    "{c:?}"
                );
            }
        }
        assert!(fast > 5_000, "{fast} cases took the fast path");
        assert!(plain_decimal(b"17.1234").is_some());
    }

    #[test]
    fn fecha_fixed_agrees_with_fecha() {
        for s in [
            "2024-04-10T13:00:04",
            "2024-04-10 13:00:04",
            "2024-02-30T13:00:04",
            "2024-04-10T25:00:04",
            "2024-04-10T1a:00:04",
            "2024-04-10X13:00:04",
            "2024-04-10T13:00:04.5",
        ] {
            if let Some(Some(d)) = fecha_fixed(s.as_bytes()) {
                assert_eq!(Some(d), fecha(s), "{s:?}");
            }
        }
    }
}
