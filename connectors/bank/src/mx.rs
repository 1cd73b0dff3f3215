//! Mexican payment data hidden in free text (bank.md §1, §9): Mexican statements put the SPEI clave de rastreo,
//! the referencia numérica, the payer's CLABE and RFC inside description/concept columns. These helpers pull them
//! out conservatively: a CLABE must pass its check digit, an RFC must have the SAT shape with a plausible date,
//! and the clave de rastreo / referencia numérica are only taken after an explicit keyword.

use crate::model::Txn;
use cuadra_sdk::{Clabe, Rfc};

/// Fills the Mexican fields a parser left empty from the transaction's texts.
pub fn enrich(t: &mut Txn) {
    enrich_with(t, &mut String::new(), &mut String::new());
}

/// [`enrich`] reusing the caller's scratch buffers (`hay`, `upper`) across transactions.
pub fn enrich_with(t: &mut Txn, hay: &mut String, upper: &mut String) {
    if t.clave_rastreo.is_some()
        && t.payer_account.is_some()
        && t.payer_rfc.is_some()
        && t.referencia_numerica.is_some()
    {
        return;
    }
    hay.clear();
    for s in t
        .concepto
        .iter()
        .chain(t.other_refs.iter())
        .chain(t.bank_reference.iter())
    {
        hay.push_str(s);
        hay.push(' ');
    }
    if hay.trim().is_empty() {
        return;
    }
    // Cheap pre-checks keep million-entry statements fast: most texts have no keyword and no long digit run.
    upper.clear();
    upper.push_str(hay);
    upper.make_ascii_uppercase();
    let (hay, upper): (&str, &str) = (hay, upper);
    if t.clave_rastreo.is_none() {
        t.clave_rastreo = rastreo_in(hay, upper);
    }
    if t.referencia_numerica.is_none() && after_keyword(upper, &["REF"]).is_some() {
        t.referencia_numerica = ref_numerica_in(upper);
    }
    let digit_runs = has_digit_run(hay, 6);
    if t.payer_account.is_none() && has_digit_run(hay, 18) {
        t.payer_account = find_clabe(hay);
    }
    if t.payer_rfc.is_none() && digit_runs {
        t.payer_rfc = find_rfc(hay);
    }
}

/// Whether `s` has at least `n` consecutive ASCII digits.
fn has_digit_run(s: &str, n: usize) -> bool {
    let mut run = 0;
    for b in s.bytes() {
        if b.is_ascii_digit() {
            run += 1;
            if run >= n {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

/// Splits on anything that is not a letter, digit, `&` or `Ñ`.
fn tokens(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '&' || c == 'Ñ' || c == 'ñ'))
        .filter(|t| !t.is_empty())
}

/// The first 18-digit run with a valid CLABE check digit.
pub fn find_clabe(s: &str) -> Option<String> {
    s.split(|c: char| !c.is_ascii_digit())
        .filter(|t| t.len() == 18)
        .find_map(|t| Clabe::parse(t).ok())
        .map(|c| c.as_str().to_string())
}

/// The first token with the shape of an RFC (3–4 letters, a valid YYMMDD, a 3-character homoclave).
pub fn find_rfc(s: &str) -> Option<String> {
    if s.is_ascii() {
        // Same tokens as `tokens` (`Ñ` cannot occur), split on bytes instead of decoded characters.
        // An ASCII token is an RFC candidate only with 12 or 13 characters (see `rfc_token`).
        let b = s.as_bytes();
        let mut start = 0;
        for end in 0..=b.len() {
            if b.get(end).is_some_and(|c| RFC_TOKEN[usize::from(*c)]) {
                continue;
            }
            if matches!(end - start, 12 | 13) {
                if let Some(r) = s.get(start..end).and_then(rfc_token) {
                    return Some(r);
                }
            }
            start = end + 1;
        }
        return None;
    }
    tokens(s).find_map(rfc_token)
}

/// ASCII letters, digits and `&`.
static RFC_TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 128 {
        let c = i as u8;
        t[i] = c.is_ascii_alphanumeric() || c == b'&';
        i += 1;
    }
    t
};

/// `t` as an RFC, if it has the shape of one.
fn rfc_token(t: &str) -> Option<String> {
    if t.len() < 12 {
        return None; // fewer bytes than characters needed
    }
    let n = t.chars().count();
    if n != 12 && n != 13 {
        return None;
    }
    let letters = if n == 12 { 3 } else { 4 };
    // Shape pre-check before the allocating parse: letters, then six digits.
    let b = t.as_bytes();
    if t.is_ascii()
        && !(b[..letters].iter().all(u8::is_ascii_alphabetic)
            && b[letters..letters + 6].iter().all(u8::is_ascii_digit))
    {
        return None;
    }
    let rfc = Rfc::parse(t).ok()?;
    let date: String = rfc.as_str().chars().skip(letters).take(6).collect();
    let m: u32 = date.get(2..4)?.parse().ok()?;
    let d: u32 = date.get(4..6)?.parse().ok()?;
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then(|| rfc.as_str().to_string())
}

/// The smallest end of the first occurrence of any of `kws` in `upper`.
fn after_keyword(upper: &str, kws: &[&str]) -> Option<usize> {
    let b = upper.as_bytes();
    let first = match kws.first().and_then(|k| k.as_bytes().first()) {
        Some(f) => *f,
        None => return None,
    };
    if !kws.iter().all(|k| k.as_bytes().first() == Some(&first)) {
        return kws
            .iter()
            .filter_map(|k| upper.find(k).map(|p| p + k.len()))
            .min();
    }
    // All keywords start with the same letter: jump from one occurrence of it to the next, and stop once no
    // match could end before the best one found.
    let mut best: Option<usize> = None;
    let mut i = 0;
    while let Some(p) = b.get(i..).and_then(|r| crate::text::find_byte(r, first)) {
        i += p;
        if best.is_some_and(|e| i >= e) {
            break;
        }
        let rest = &b[i..];
        for kw in kws {
            let kw = kw.as_bytes();
            // Second letter first: most candidates fail there, without a slice comparison.
            if rest.get(1) == kw.get(1) && rest.starts_with(kw) {
                let end = i + kw.len();
                best = Some(best.map_or(end, |e| e.min(end)));
            }
        }
        i += 1;
    }
    best
}

/// The token after "CLAVE DE RASTREO", "CVE RASTREO", "RASTREO" (≤ 30 characters, letters, digits, `-`, `/`).
pub fn find_rastreo(s: &str) -> Option<String> {
    rastreo_in(s, &s.to_ascii_uppercase())
}

/// [`find_rastreo`] with `upper` = `s.to_ascii_uppercase()` already computed.
fn rastreo_in(s: &str, upper: &str) -> Option<String> {
    let start = after_keyword(upper, &["RASTREO"])?;
    let rest = s.get(start..)?;
    let rest =
        rest.trim_start_matches(|c: char| c == ':' || c == '=' || c == '.' || c.is_whitespace());
    let len = rest
        .bytes()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'/')
        .count();
    let tok = &rest[..len];
    (!tok.is_empty() && tok.len() <= 30 && tok.bytes().any(|c| c.is_ascii_digit()))
        .then(|| tok.to_string())
}

/// 1–7 digits after "REFERENCIA NUMERICA", "REF NUMERICA", "REF. NUM", "REF NUM" or "REFERENCIA".
pub fn find_ref_numerica(s: &str) -> Option<String> {
    ref_numerica_in(&s.to_ascii_uppercase())
}

/// [`find_ref_numerica`] over the ASCII upper-cased text.
fn ref_numerica_in(upper: &str) -> Option<String> {
    let upper: std::borrow::Cow<'_, str> = if upper.contains(['É', 'é']) {
        upper.replace(['É', 'é'], "E").into()
    } else {
        upper.into()
    };
    let start = after_keyword(
        &upper,
        &[
            "REFERENCIA NUMERICA",
            "REF NUMERICA",
            "REF. NUMERICA",
            "REF. NUM",
            "REF NUM",
            "REFERENCIA",
        ],
    )?;
    let rest = upper.get(start..)?;
    let rest = rest.trim_start_matches(|c: char| {
        c == ':' || c == '=' || c == '.' || c.is_whitespace() || c.is_ascii_alphabetic()
    });
    let tok: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let next = rest.chars().nth(tok.len());
    let bounded = !matches!(next, Some(c) if c.is_ascii_alphanumeric());
    ((1..=7).contains(&tok.len()) && bounded).then_some(tok)
}

/// A structured field's value as a referencia numérica: the digits alone (`0001000259`) or after a keyword
/// (`REF 1000259`, `REFERENCIA:0001000259`, `REF. NUM 1234567`), at most 10 digits of which at most 7 are
/// significant (banks pad the 7-digit SPEI referencia with zeros). Returned as written, without the keyword.
pub fn referencia_in_field(value: &str) -> Option<String> {
    let v = value.trim();
    let upper = v.to_ascii_uppercase();
    let digits = if v.bytes().all(|b| b.is_ascii_digit()) {
        v
    } else {
        let rest = [
            "REFERENCIA NUMERICA",
            "REF. NUMERICA",
            "REF NUMERICA",
            "REF. NUM.",
            "REF. NUM",
            "REF NUM",
            "REFERENCIA",
            "REF.",
            "REF",
        ]
        .iter()
        .find_map(|k| upper.strip_prefix(k))?;
        let skip = rest.len() - rest.trim_start_matches([':', '=', '.', '#', ' ']).len();
        v.get(v.len() - rest.len() + skip..)?.trim_end()
    };
    let significant = digits.trim_start_matches('0');
    (!digits.is_empty()
        && digits.len() <= 10
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (1..=7).contains(&significant.len()))
    .then(|| digits.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_mexican_fields() {
        let s =
            "SPEI RECIBIDO BANORTE CLAVE DE RASTREO: 058-25/08/2023/25-300CPWF924 REF NUM 1234567 \
                 CTA 072691004495711499 RFC EKU9003173C9";
        assert_eq!(
            find_rastreo(s).as_deref(),
            Some("058-25/08/2023/25-300CPWF924")
        );
        assert_eq!(find_ref_numerica(s).as_deref(), Some("1234567"));
        assert_eq!(find_clabe(s).as_deref(), Some("072691004495711499"));
        assert_eq!(find_rfc(s).as_deref(), Some("EKU9003173C9"));
        assert_eq!(find_clabe("072691004495711498"), None, "bad check digit");
        assert_eq!(find_rfc("ABCD991399XXX"), None, "month 13");
        assert_eq!(find_ref_numerica("REFERENCIA 12345678"), None, "8 digits");
        assert_eq!(find_rastreo("sin datos"), None);
    }

    #[test]
    fn referencia_in_a_structured_field() {
        let r = |s: &str| referencia_in_field(s);
        assert_eq!(r("1000259").as_deref(), Some("1000259"));
        assert_eq!(r(" 0001000259 ").as_deref(), Some("0001000259"));
        assert_eq!(r("REF 1000259").as_deref(), Some("1000259"));
        assert_eq!(r("REFERENCIA:0001000259").as_deref(), Some("0001000259"));
        assert_eq!(r("Ref. Num. 1234567").as_deref(), Some("1234567"));
        assert_eq!(r("REF1000259").as_deref(), Some("1000259"));
        for bad in [
            "",
            "REF",
            "0000000",
            "12345678",
            "00000000001",
            "RF18539007547034",
            "REF 12A",
            "REFACCIONES 12",
            "FACT 1234",
            "E2E-1234",
            "REF 1000259 FACT 12",
        ] {
            assert_eq!(r(bad), None, "{bad:?}");
        }
    }
}
