//! `:86:` information to the account owner (bank.md §5.4): German ZKA `GGG?NN` subfields with SEPA keywords
//! (`EREF+`, `SVWZ+`, ...), the Dutch `/TAG/value` structure (`/EREF/`, `/ORDP//NAME/`, `/REMI/`, `/CNTP/`),
//! Triodos-style `>NN` subfields, and free text. Wrapped structured values are joined without a separator
//! (banks wrap mid-word); free text is joined with spaces.

use crate::model::Txn;
use crate::text::{clean, clean_ref, decode_cow};
use std::borrow::Cow;

/// Buffers reused from one `:86:` to the next.
#[derive(Default)]
pub struct Scratch {
    purpose: String,
    name: String,
}

/// Reads `raw` (the `:86:` value, lines separated by `\n`) into `t`.
#[cfg(test)]
pub fn apply(t: &mut Txn, raw: &[u8], utf8: bool) {
    apply_with(t, raw, utf8, &mut Scratch::default());
}

/// Reads `raw` (the `:86:` value, lines separated by `\n`) into `t`, reusing `scratch`.
pub fn apply_with(t: &mut Txn, raw: &[u8], utf8: bool, scratch: &mut Scratch) {
    if raw.is_empty() {
        return;
    }
    let decoded = decode_cow(raw, utf8);
    // Lone `-` lines wrap text in some exports (ING) and are not content.
    let (text, joined): (Cow<'_, str>, Cow<'_, str>) = if decoded.contains('\n') {
        let lines: Vec<&str> = decoded
            .split('\n')
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| l.trim() != "-")
            .collect();
        (lines.join("\n").into(), lines.concat().into())
    } else {
        // One line (the common case): no joining needed.
        let l = decoded.trim_end_matches('\r');
        let l = if l.trim() == "-" { "" } else { l };
        (l.into(), l.into())
    };
    let b = joined.as_bytes();
    if b.len() > 4 && b[..3].iter().all(u8::is_ascii_digit) && matches!(b[3], b'?' | b'>') {
        german(t, &joined, b[3] as char, scratch);
    } else if joined.trim_start().starts_with('/') && dutch(t, joined.trim_start()) {
        // done
    } else {
        t.concepto = clean(&text);
    }
}

/// `GGG?00text?20purpose...?32name` (separator `?`, or `>` for Triodos).
fn german(t: &mut Txn, s: &str, sep: char, scratch: &mut Scratch) {
    let purpose = &mut scratch.purpose;
    let name = &mut scratch.name;
    purpose.clear();
    name.clear();
    // The last `?00` / `?31` values, cleaned only when used.
    let mut posting: Option<&str> = None;
    let mut account: Option<&str> = None;
    // The `?2x` values one by one: one of them may be the referencia numérica.
    let mut parts: Vec<&str> = Vec::new();
    let body = s.get(3..).unwrap_or("");
    // `sep` is ASCII, so splitting the bytes cuts the text at character boundaries.
    let sep = sep as u8;
    let mut rest = body;
    while !rest.is_empty() {
        let end = crate::text::find_byte(rest.as_bytes(), sep).unwrap_or(rest.len());
        let part = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or("");
        let p = part.as_bytes();
        if p.is_empty() {
            continue;
        }
        if !(p.len() >= 2 && p[0].is_ascii_digit() && p[1].is_ascii_digit()) {
            purpose.push_str(part);
            continue;
        }
        let val = &part[2..];
        match (p[0], p[1]) {
            (b'0', b'0') => posting = Some(val),
            (b'2', _) => {
                purpose.push_str(val);
                parts.push(val);
            }
            (b'6', b'0'..=b'3') => purpose.push_str(val),
            (b'3', b'1') => account = Some(val),
            (b'3', b'2' | b'3') => name.push_str(val),
            _ => {}
        }
    }
    let kw = sepa_keywords(purpose);
    if kw.is_empty() {
        t.late_referencia = referencia_subfield(&parts);
    }
    let get = |k: &str| {
        kw.iter()
            .find(|(key, _)| *key == k)
            .and_then(|(_, v)| clean_ref(v))
    };
    t.payer_name = clean(name).or_else(|| get("ABWA"));
    t.payer_account = account.and_then(clean).or_else(|| get("IBAN"));
    t.other_refs.extend(get("EREF"));
    t.other_refs.extend(get("KREF"));
    t.other_refs.extend(get("MREF"));
    t.concepto = if kw.is_empty() {
        clean(purpose)
    } else {
        get("SVWZ")
    }
    .or_else(|| posting.and_then(clean));
}

/// The referencia numérica among free-text `?2x` subfields: one that states it after a keyword (`REF 1000259`,
/// `REFERENCIA:0001000259`), or is 7 to 10 digits alone and not the wrapped part of a longer number.
fn referencia_subfield(parts: &[&str]) -> Option<String> {
    let ends_digit = |s: &str| s.bytes().last().is_some_and(|b| b.is_ascii_digit());
    let starts_digit = |s: &str| s.bytes().next().is_some_and(|b| b.is_ascii_digit());
    parts.iter().enumerate().find_map(|(i, v)| {
        let v = v.trim();
        if v.len() >= 3 && v.as_bytes()[..3].eq_ignore_ascii_case(b"REF") {
            return crate::mx::referencia_in_field(v);
        }
        let alone = (7..=10).contains(&v.len())
            && !(i > 0 && ends_digit(parts[i - 1]))
            && !parts.get(i + 1).is_some_and(|n| starts_digit(n));
        alone.then(|| crate::mx::referencia_in_field(v)).flatten()
    })
}

const SEPA_KEYS: &[&str] = &[
    "EREF+", "KREF+", "MREF+", "CRED+", "DEBT+", "SVWZ+", "ABWA+", "ABWE+", "IBAN+", "BIC+",
    "COAM+", "OAMT+", "PURP+", "SQTP+", "MDAT+", "DDAT+", "ORCR+", "ORMR+",
];

/// Splits `EREF+x SVWZ+y` into keyword/value pairs (values run to the next keyword); keys without the `+`.
fn sepa_keywords(s: &str) -> Vec<(&'static str, String)> {
    if !s.contains('+') {
        return Vec::new();
    }
    let mut hits: Vec<(usize, &'static str)> = Vec::new();
    for pat in SEPA_KEYS {
        let mut from = 0;
        while let Some(i) = s.get(from..).and_then(|r| r.find(pat)) {
            hits.push((from + i, pat));
            from += i + pat.len();
        }
    }
    hits.sort_unstable();
    let mut out = Vec::with_capacity(hits.len());
    for (n, (i, k)) in hits.iter().enumerate() {
        let start = i + k.len();
        let end = hits.get(n + 1).map_or(s.len(), |h| h.0);
        if let Some(v) = s.get(start..end.max(start)) {
            out.push((k.trim_end_matches('+'), v.to_string()));
        }
    }
    out
}

const DUTCH_KEYS: &[&str] = &[
    "TRTP",
    "EREF",
    "PREF",
    "MARF",
    "CSID",
    "CNTP",
    "BENM",
    "ORDP",
    "NAME",
    "REMI",
    "ISDT",
    "IBAN",
    "BIC",
    "ID",
    "ADDR",
    "RTRN",
    "ULTC",
    "ULTD",
    "ULTB",
    "PURP",
    "USTD",
    "STRD",
    "CDTRREF",
    "CDTRREFTP",
    "CD",
    "ISSR",
    "OCMT",
    "CHGS",
    "SVCL",
    "EXCH",
    "FX",
];

/// `/TAG/value/TAG//value`; returns false if no known tag was found (then the text is free text).
fn dutch(t: &mut Txn, s: &str) -> bool {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    for seg in s.split('/') {
        if DUTCH_KEYS.contains(&seg) {
            pairs.push((seg, String::new()));
        } else if let Some((_, v)) = pairs.last_mut() {
            if !v.is_empty() || !seg.is_empty() {
                if !v.is_empty() {
                    v.push('/');
                }
                v.push_str(seg);
            }
        }
    }
    if pairs.is_empty() {
        return false;
    }
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| *key == k)
            .and_then(|(_, v)| clean_ref(v))
    };
    let cntp: Vec<String> = get("CNTP")
        .map(|v| v.split('/').map(str::to_string).collect())
        .unwrap_or_default();
    t.payer_name = get("NAME").or_else(|| cntp.get(2).and_then(|n| clean(n)));
    t.payer_account = get("IBAN").or_else(|| cntp.first().and_then(|n| clean(n)));
    for k in ["EREF", "PREF", "MARF", "CDTRREF"] {
        t.other_refs.extend(get(k));
    }
    t.concepto = get("REMI")
        .or_else(|| get("USTD"))
        .or_else(|| get("TRTP"))
        .map(|r| r.trim_matches('/').to_string())
        .filter(|r| !r.is_empty());
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use cuadra_sdk::{Currency, Money};

    fn txn() -> Txn {
        Txn::new(
            NaiveDate::from_ymd_opt(2020, 1, 1).unwrap_or_default(),
            Money::zero(Currency::EUR),
        )
    }

    #[test]
    fn german_gvc_with_sepa_keywords() {
        let mut t = txn();
        let raw = b"166?00GUTSCHR. UEBERWEISUNG?20EREF+E2E-1?21SVWZ+Factura A-1\n?2223?30BYLADEM1001?31DE0210\n0500000123?32Max Mus?33termann";
        apply(&mut t, raw, true);
        assert_eq!(t.payer_name.as_deref(), Some("Max Mustermann"));
        assert_eq!(t.payer_account.as_deref(), Some("DE02100500000123"));
        assert_eq!(t.concepto.as_deref(), Some("Factura A-123"));
        assert_eq!(t.other_refs, vec!["E2E-1".to_string()]);
    }

    #[test]
    fn referencia_in_free_text_subfields() {
        let mut t = txn();
        apply(&mut t, b"166?00SPEI RECIBIDO?20PAGO FACT A-1471?21REFERENCIA:0001000259?32SERV INTEGRALES DE L", true);
        assert_eq!(t.late_referencia.as_deref(), Some("0001000259"));
        let mut t = txn();
        apply(
            &mut t,
            b"166?00SPEI?20PAGO FACTURAS?211000259?22A-1471",
            true,
        );
        assert_eq!(t.late_referencia.as_deref(), Some("1000259"));
        // Digits wrapped from the subfield before are not a referencia, nor is a short number alone.
        for raw in [
            &b"166?00SPEI?20CUENTA 0121800012?211234567"[..],
            b"166?00SPEI?20PAGO FACT 1471?211000259",
            b"166?00SPEI?20PAGO?211000259?2234",
            b"166?00SPEI?20PAGO FACTURA?211471",
            b"166?00SPEI?20EREF+E2E?21SVWZ+REF 1000259",
        ] {
            let mut t = txn();
            apply(&mut t, raw, true);
            assert_eq!(t.late_referencia, None, "{}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn dutch_structured() {
        let mut t = txn();
        let raw = b"/EREF/02-04-2013 1120/BENM//NAME/Nespresso Nede\nrland B.V./REMI/674725433 11200\n/ISDT/2013-04-03";
        apply(&mut t, raw, true);
        assert_eq!(t.payer_name.as_deref(), Some("Nespresso Nederland B.V."));
        assert_eq!(t.concepto.as_deref(), Some("674725433 11200"));
        assert_eq!(t.other_refs, vec!["02-04-2013 1120".to_string()]);
    }

    #[test]
    fn free_text() {
        let mut t = txn();
        apply(&mut t, b"PAGO FACTURA A-17\nCLAVE DE RASTREO 12345", true);
        assert_eq!(
            t.concepto.as_deref(),
            Some("PAGO FACTURA A-17 CLAVE DE RASTREO 12345")
        );
    }
}
