//! Attribute value helpers: text borrowed from the input, exact decimals, dates, UUIDs and currencies, each error
//! pointing at the attribute value's own line and column.

use crate::error::{ErrorKind, ParseError};
use chrono::{NaiveDate, NaiveDateTime};
use cuadra_sdk::{parse_decimal, CfdiUuid, Currency};
use quick_xml::events::BytesStart;
use rust_decimal::Decimal;
use std::borrow::Cow;

/// One attribute: key and raw value, both borrowed from the input.
pub(crate) struct Attr<'a> {
    pub key: &'a [u8],
    pub value: &'a [u8],
}

impl<'a> Attr<'a> {
    /// The value as text, unescaped (borrowed unless it has entity or character references).
    fn unescape_value(&self) -> Result<Cow<'a, str>, String> {
        let text = std::str::from_utf8(self.value).map_err(|e| format!("not UTF-8: {e}"))?;
        if memchr::memchr(b'&', self.value).is_none() {
            return Ok(Cow::Borrowed(text));
        }
        quick_xml::escape::unescape(text).map_err(|e| e.to_string())
    }
}

/// A small attribute scanner over the element's bytes (faster than quick-xml's checked iterator). Duplicate
/// names among the first 32 attributes of an element are refused (CFDI elements have fewer).
pub(crate) struct Attributes<'a> {
    buf: &'a [u8],
    pos: usize,
    seen: [&'a [u8]; 32],
    count: usize,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Result<Attr<'a>, String>;

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.buf;
        let ws = |c: u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
        while self.pos < b.len() && ws(b[self.pos]) {
            self.pos += 1;
        }
        if self.pos >= b.len() {
            return None;
        }
        let start = self.pos;
        while self.pos < b.len() && b[self.pos] != b'=' && !ws(b[self.pos]) {
            self.pos += 1;
        }
        let key = &b[start..self.pos];
        while self.pos < b.len() && ws(b[self.pos]) {
            self.pos += 1;
        }
        if self.pos >= b.len() || b[self.pos] != b'=' {
            self.pos = b.len();
            return Some(Err(format!(
                "attribute {:?} has no value",
                String::from_utf8_lossy(key)
            )));
        }
        self.pos += 1;
        while self.pos < b.len() && ws(b[self.pos]) {
            self.pos += 1;
        }
        let quote = match b.get(self.pos) {
            Some(&q) if q == b'"' || q == b'\'' => q,
            _ => {
                self.pos = b.len();
                return Some(Err(format!(
                    "attribute {:?} value is not quoted",
                    String::from_utf8_lossy(key)
                )));
            }
        };
        let vstart = self.pos + 1;
        let rest = b.get(vstart..).unwrap_or_default();
        let Some(len) = memchr::memchr(quote, rest) else {
            self.pos = b.len();
            return Some(Err(format!(
                "attribute {:?} value has no closing quote",
                String::from_utf8_lossy(key)
            )));
        };
        let value = &rest[..len];
        self.pos = vstart + len + 1;
        let seen = self.seen.get(..self.count).unwrap_or_default();
        if seen.contains(&key) {
            return Some(Err(format!(
                "duplicate attribute {:?}",
                String::from_utf8_lossy(key)
            )));
        }
        if let Some(slot) = self.seen.get_mut(self.count) {
            *slot = key;
            self.count += 1;
        }
        Some(Ok(Attr { key, value }))
    }
}

/// The attributes of `e` with values borrowed from `input`. The element's bytes are located in `input` by
/// address (the reader borrows from it), so this needs no unsafe code.
pub(crate) fn attributes<'a>(
    input: &'a [u8],
    pos: u64,
    e: &BytesStart<'_>,
) -> Result<Attributes<'a>, ParseError> {
    let base = input.as_ptr() as usize;
    let at = (e.as_ptr() as usize).wrapping_sub(base);
    let raw = input
        .get(at..at.saturating_add(e.len()))
        .filter(|r| r.as_ptr() == e.as_ptr());
    let Some(raw) = raw else {
        return Err(ParseError::at(
            input,
            pos,
            ErrorKind::Malformed,
            "element text is not part of the input (internal reader error)",
        ));
    };
    Ok(Attributes {
        buf: raw,
        pos: e.name().as_ref().len(),
        seen: [&[]; 32],
        count: 0,
    })
}

/// Unwraps one attribute of the iterator, as a positioned error.
pub(crate) fn next_attr<'a>(
    input: &[u8],
    pos: u64,
    a: Result<Attr<'a>, String>,
) -> Result<Attr<'a>, ParseError> {
    a.map_err(|err| {
        ParseError::at(
            input,
            pos,
            ErrorKind::Malformed,
            format!("malformed attribute: {err}"),
        )
    })
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

pub(crate) fn parse_amount(input: &[u8], a: &Attr<'_>, field: &str) -> Result<Decimal, ParseError> {
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
    Currency::parse(&t).map_err(|_| {
        invalid(
            input,
            a,
            field,
            format!("{t:?} is not a three-letter currency code"),
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

/// `YYYY-MM-DDThh:mm:ss` (t_FechaH), fast path; fractional seconds are tolerated via chrono.
pub fn fecha(s: &str) -> Option<NaiveDateTime> {
    let b = s.trim().as_bytes();
    if b.len() == 19 && b.get(4) == Some(&b'-') && b.get(7) == Some(&b'-') {
        let sep = *b.get(10)?;
        if (sep == b'T' || sep == b' ') && b.get(13) == Some(&b':') && b.get(16) == Some(&b':') {
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
            let date =
                NaiveDate::from_ymd_opt(i32::try_from(num(0..4)?).ok()?, num(5..7)?, num(8..10)?)?;
            return date.and_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?);
        }
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
}
