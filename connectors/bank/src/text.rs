//! Small text helpers shared by the parsers: byte decoding (UTF-8, else Latin-1), whitespace and reference
//! normalization, civil dates, and lenient-but-exact amount parsing (comma decimals, thousands separators).

use chrono::NaiveDate;
use cuadra_sdk::parse_decimal;
use rust_decimal::Decimal;

/// Decodes bytes as UTF-8, or as Latin-1 when they are not valid UTF-8 (Mexican bank exports and German MT940
/// files often are Latin-1 / cp1252; every byte maps to a character, so nothing is lost or rejected).
pub fn decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => latin1(bytes),
    }
}

/// Latin-1 decoding; with `utf8` known for the whole file, skips the per-field check.
pub fn decode_with(bytes: &[u8], utf8: bool) -> String {
    if utf8 {
        String::from_utf8_lossy(bytes).into_owned()
    } else {
        latin1(bytes)
    }
}

/// [`decode_with`] without copying valid UTF-8.
pub fn decode_cow(bytes: &[u8], utf8: bool) -> std::borrow::Cow<'_, str> {
    if utf8 {
        // A slice of a UTF-8 file is nearly always UTF-8 itself; `from_utf8` checks that faster than the
        // lossy decoder, which remains for slices that cut a character.
        match std::str::from_utf8(bytes) {
            Ok(s) => s.into(),
            Err(_) => String::from_utf8_lossy(bytes),
        }
    } else {
        latin1(bytes).into()
    }
}

/// Position of the first `needle` in `hay` (a word at a time; no dependency needed for this one search).
pub fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let pattern = LO.wrapping_mul(u64::from(needle));
    let mut chunks = hay.chunks_exact(8);
    let mut base = 0;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let x = u64::from_le_bytes(w) ^ pattern;
        let found = x.wrapping_sub(LO) & !x & HI;
        if found != 0 {
            return Some(base + (found.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|b| *b == needle)
        .map(|i| base + i)
}

pub fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

/// Strips a UTF-8 byte-order mark.
pub fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// Collapses runs of whitespace (including newlines) into one space and trims; `None` when empty.
pub fn clean(s: &str) -> Option<String> {
    if is_clean_ascii(s.as_bytes()) {
        return Some(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    for w in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    (!out.is_empty()).then_some(out)
}

/// ASCII already clean: not empty, no control whitespace, no leading/trailing/double space (one pass).
fn is_clean_ascii(b: &[u8]) -> bool {
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
        return false;
    };
    if first == b' ' || last == b' ' {
        return false;
    }
    let mut bad = false;
    let mut prev_space = false;
    for &c in b {
        let space = c == b' ';
        bad |= (c >= 0x80) | (9..=13).contains(&c) | (space & prev_space);
        prev_space = space;
    }
    !bad
}

/// `clean`, and also treats the usual "nothing here" placeholders as empty.
pub fn clean_ref(s: &str) -> Option<String> {
    let c = clean(s)?;
    const EMPTY: &[&str] = &["NOTPROVIDED", "NONREF", "NONE", "NA", "N/A", "ND", "-", "0"];
    if EMPTY.iter().any(|e| e.eq_ignore_ascii_case(&c)) {
        None
    } else {
        Some(c)
    }
}

/// Upper-case letters and digits only, for hashing and comparing references (`RF18 5390` = `rf185390`).
pub fn norm_key(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_norm_key(&mut out, s);
    out
}

/// [`norm_key`] appended to `out` (no allocation of its own).
pub fn push_norm_key(out: &mut String, s: &str) {
    if s.is_ascii() {
        out.extend(
            s.bytes()
                .filter(u8::is_ascii_alphanumeric)
                .map(|b| b.to_ascii_uppercase() as char),
        );
        return;
    }
    out.extend(
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_uppercase),
    );
}

/// Per byte: its upper-case image if it is an ASCII letter or digit, else 0.
static NORM_ASCII: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 128 {
        let c = i as u8;
        if c.is_ascii_alphanumeric() {
            t[i] = c.to_ascii_uppercase();
        }
        i += 1;
    }
    t
};

/// [`norm_key`] appended to `out` as UTF-8 bytes.
pub fn push_norm_key_bytes(out: &mut Vec<u8>, s: &str) {
    // ASCII first: write every byte's image, advance only past the kept ones (no per-byte branch).
    let start = out.len();
    out.resize(start + s.len(), 0);
    let dst = &mut out[start..];
    let mut high = 0u8;
    let mut kept = 0;
    for b in s.bytes() {
        high |= b;
        let v = NORM_ASCII[usize::from(b)];
        if let Some(d) = dst.get_mut(kept) {
            *d = v;
        }
        kept += usize::from(v != 0);
    }
    if high < 0x80 {
        out.truncate(start + kept);
        return;
    }
    out.truncate(start);
    let mut buf = [0u8; 4];
    for c in s
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_uppercase)
    {
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
}

/// Civil date from the first 10 characters of an ISO date or date-time (`2014-12-31T13:15:00+01:00` →
/// 2014-12-31: the bank's own calendar date, not converted to UTC).
pub fn iso_date(s: &str) -> Option<NaiveDate> {
    let t = s.trim();
    NaiveDate::parse_from_str(t.get(..10)?, "%Y-%m-%d").ok()
}

/// `YYYYMMDD` (OFX, compact dates).
pub fn ymd_compact(s: &str) -> Option<NaiveDate> {
    let t = s.trim();
    let y: i32 = t.get(0..4)?.parse().ok()?;
    let m: u32 = t.get(4..6)?.parse().ok()?;
    let d: u32 = t.get(6..8)?.parse().ok()?;
    NaiveDate::from_ymd_opt(y, m, d)
}

/// A date whose day may exceed the month (German 30/360 banks write 30 February): clamped to the month's last day.
pub fn clamped_date(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    (1..=d)
        .rev()
        .take(4)
        .find_map(|day| NaiveDate::from_ymd_opt(y, m, day))
}

/// How a statement writes amounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DecimalSep {
    /// `1,234.56`.
    #[default]
    Point,
    /// `1.234,56`.
    Comma,
    /// Decide per value: the last of `.`/`,` is the decimal separator when followed by 1–2 or exactly 5 digits
    /// and the other one appears before it or not at all (used for OFX, whose spec says `.` but banks send `,`).
    Auto,
}

/// Parses an amount exactly. Accepts a sign (leading or trailing `-`, or parentheses), thousands separators of
/// the other kind, spaces and currency symbols (`$`, `€`); rejects anything else. Never goes through f64.
pub fn parse_amount(s: &str, sep: DecimalSep) -> Result<Decimal, String> {
    let t = s.trim();
    if let Some(d) = plain_amount(t, sep) {
        return d;
    }
    let mut neg = false;
    let mut body: String = t
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '$' | '€' | '\u{a0}' | '\''))
        .collect();
    if body.starts_with('(') && body.ends_with(')') && body.len() > 2 {
        neg = true;
        body = body[1..body.len() - 1].to_string();
    }
    if let Some(b) = body.strip_suffix('-') {
        neg = !neg;
        body = b.to_string();
    }
    if let Some(b) = body.strip_prefix('-') {
        neg = !neg;
        body = b.to_string();
    } else if let Some(b) = body.strip_prefix('+') {
        body = b.to_string();
    }
    let sep = match sep {
        DecimalSep::Auto => guess_sep(&body),
        other => other,
    };
    let (dec, thousands) = match sep {
        DecimalSep::Comma => (',', '.'),
        _ => ('.', ','),
    };
    let mut norm = String::with_capacity(body.len() + 1);
    for c in body.chars() {
        if c == thousands {
            continue;
        }
        norm.push(if c == dec { '.' } else { c });
    }
    if norm.ends_with('.') {
        norm.push('0');
    }
    let d = parse_decimal(&norm)
        .map_err(|_| format!("expected an amount such as 1160.00, found {t:?}"))?;
    Ok(if neg { -d } else { d })
}

/// The common case of [`parse_amount`] without allocating: only digits and the decimal separator (no sign,
/// symbols, spaces or thousands separators), `sep` not `Auto`. `None` means "take the general path".
fn plain_amount(t: &str, sep: DecimalSep) -> Option<Result<Decimal, String>> {
    let dec = match sep {
        DecimalSep::Comma => b',',
        DecimalSep::Point => b'.',
        DecimalSep::Auto => return None,
    };
    let b = t.as_bytes();
    let mut buf = [0u8; 48];
    if b.is_empty() || b.len() >= buf.len() {
        return None;
    }
    for (o, c) in buf.iter_mut().zip(b) {
        *o = match *c {
            c if c.is_ascii_digit() => c,
            c if c == dec => b'.',
            _ => return None,
        };
    }
    let mut n = b.len();
    if buf.get(n - 1) == Some(&b'.') {
        *buf.get_mut(n)? = b'0';
        n += 1;
    }
    let norm = std::str::from_utf8(buf.get(..n)?).ok()?;
    Some(
        parse_decimal(norm).map_err(|_| format!("expected an amount such as 1160.00, found {t:?}")),
    )
}

fn guess_sep(body: &str) -> DecimalSep {
    let last_dot = body.rfind('.');
    let last_comma = body.rfind(',');
    match (last_dot, last_comma) {
        (Some(d), Some(c)) => {
            if c > d {
                DecimalSep::Comma
            } else {
                DecimalSep::Point
            }
        }
        (None, Some(c)) => {
            let digits = body.len() - c - 1;
            if digits == 3 {
                // `1,025` reads as a thousands separator; `10,5` and `10,50` as a decimal comma.
                DecimalSep::Point
            } else {
                DecimalSep::Comma
            }
        }
        _ => DecimalSep::Point,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        parse_decimal(s).unwrap()
    }

    #[test]
    fn amounts() {
        assert_eq!(
            parse_amount("1,533.50", DecimalSep::Point).unwrap(),
            d("1533.50")
        );
        assert_eq!(
            parse_amount("4.626,81", DecimalSep::Comma).unwrap(),
            d("4626.81")
        );
        assert_eq!(
            parse_amount("-1,058.09", DecimalSep::Point).unwrap(),
            d("-1058.09")
        );
        assert_eq!(
            parse_amount("(12.00)", DecimalSep::Point).unwrap(),
            d("-12.00")
        );
        assert_eq!(
            parse_amount("$ 1 025,53", DecimalSep::Comma).unwrap(),
            d("1025.53")
        );
        assert_eq!(
            parse_amount("+1058,53", DecimalSep::Auto).unwrap(),
            d("1058.53")
        );
        assert_eq!(
            parse_amount("10.000,50", DecimalSep::Auto).unwrap(),
            d("10000.50")
        );
        assert_eq!(
            parse_amount("10,000.50", DecimalSep::Auto).unwrap(),
            d("10000.50")
        );
        assert_eq!(parse_amount("80,", DecimalSep::Comma).unwrap(), d("80"));
        assert!(parse_amount("1e5", DecimalSep::Point).is_err());
        assert!(parse_amount("", DecimalSep::Point).is_err());
        assert!(parse_amount("abc", DecimalSep::Comma).is_err());
    }

    #[test]
    fn dates_and_text() {
        assert_eq!(
            clamped_date(2016, 2, 30),
            NaiveDate::from_ymd_opt(2016, 2, 29)
        );
        assert_eq!(clamped_date(2016, 13, 1), None);
        assert_eq!(
            iso_date("2014-12-31T13:15:00+01:00"),
            NaiveDate::from_ymd_opt(2014, 12, 31)
        );
        assert_eq!(clean("  a \n b  "), Some("a b".into()));
        assert_eq!(clean_ref("NOTPROVIDED"), None);
        assert_eq!(norm_key("RF18 5390-x"), "RF185390X");
        assert_eq!(decode(b"M\xfcller"), "Müller");
    }
}
