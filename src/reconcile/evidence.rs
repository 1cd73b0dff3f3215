//! Evidence of who paid found in text: referencias numéricas a concepto states after a keyword (`REF 1000259`,
//! `REFERENCIA:0001000259`), and the legal form a payer name ends with (`S.A. de C.V.`, `S. de R.L. de C.V.`),
//! which tells apart customers whose names are otherwise the same.

use super::text::{cleaned_upper, id_key, name_tokens, LEGAL_FORMS};

/// Words that announce a referencia numérica.
const REFERENCE_WORDS: &[&str] = &["REF", "REFERENCIA", "REFNUM", "REFERENCIANUMERICA"];
/// Words that may stand between the keyword and the number (`REF NUM`, `REFERENCIA NUMERICA NO.`).
const REFERENCE_FILLER: &[&str] = &["NUM", "NUMERICA", "NUMERO", "NO", "N", "DE", "PAGO"];
/// The most digits a referencia may be written with (7 significant, padded with zeros to 10 by some banks).
const REFERENCE_MAX_DIGITS: usize = 10;
const REFERENCE_MAX_SIGNIFICANT: usize = 7;

/// A number as a referencia numérica (its [`id_key`]: no leading zeros), if it can be one.
fn as_referencia(digits: &str) -> Option<String> {
    if digits.is_empty()
        || digits.len() > REFERENCE_MAX_DIGITS
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let key = id_key(digits);
    (!key.is_empty() && key.len() <= REFERENCE_MAX_SIGNIFICANT).then_some(key)
}

/// The referencias numéricas `text` states after a keyword (`REF 1000259`, `REF. NUM 1234567`,
/// `REFERENCIA:0001000259`, `REF1000259`), as [`id_key`]s (leading zeros dropped), in order.
pub(super) fn referencias_in(text: &str) -> Vec<String> {
    // Most conceptos have no keyword: look before cleaning.
    if !text
        .as_bytes()
        .windows(3)
        .any(|w| w.eq_ignore_ascii_case(b"REF"))
    {
        return Vec::new();
    }
    let up = cleaned_upper(text);
    let tokens: Vec<&str> = up.split_whitespace().collect();
    let mut out: Vec<String> = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let found = if REFERENCE_WORDS.contains(t) {
            tokens
                .iter()
                .skip(i + 1)
                .take(3)
                .find(|n| !REFERENCE_FILLER.contains(n))
                .and_then(|n| as_referencia(n))
        } else {
            t.strip_prefix("REF").and_then(as_referencia)
        };
        if let Some(r) = found {
            if !out.contains(&r) {
                out.push(r);
            }
        }
    }
    out
}

/// Legal-form words written out, read as their initial (`SOCIEDAD ANONIMA` → `SA`).
const SPELLED_OUT: &[&str] = &[
    "SOCIEDAD",
    "ANONIMA",
    "CAPITAL",
    "VARIABLE",
    "RESPONSABILIDAD",
    "LIMITADA",
    "CIVIL",
    "ASOCIACION",
    "PROMOTORA",
    "INVERSION",
    "BURSATIL",
    "SIMPLIFICADA",
];

/// The legal form a company name ends with, in one spelling: `S.A. de C.V.` and `Sociedad Anónima de Capital
/// Variable` → `SACV`, `S. de R.L. de C.V.` → `SRLCV`, `S.A.P.I. de C.V.` → `SAPICV`; empty when it ends with
/// none. A name the bank cut (`ACME SA DE`) gives the start of its form (`SA`).
pub(super) fn legal_form(name: &str) -> String {
    let mut tokens = name_tokens(name);
    let mut form: Vec<String> = Vec::new();
    while tokens.len() > 1 && LEGAL_FORMS.contains(&tokens[tokens.len() - 1].as_str()) {
        form.extend(tokens.pop());
    }
    form.reverse();
    form.iter()
        .filter(|t| !matches!(t.as_str(), "DE" | "EN" | "Y"))
        .map(|t| {
            if SPELLED_OUT.contains(&t.as_str()) {
                t[..1].to_string()
            } else {
                t.clone()
            }
        })
        .collect()
}

/// Whether a payer's legal form (perhaps cut by the bank) can be a customer's.
pub(super) fn form_fits(payer: &str, customer: &str) -> bool {
    !payer.is_empty() && customer.starts_with(payer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referencias_after_a_keyword() {
        assert_eq!(referencias_in("PAGO REF 1000259"), vec!["1000259"]);
        assert_eq!(referencias_in("REFERENCIA:0001000259"), vec!["1000259"]);
        assert_eq!(referencias_in("ref. num. 0012345 fact 88"), vec!["12345"]);
        assert_eq!(
            referencias_in("REFERENCIA NUMÉRICA 7001 / FACT A-12"),
            vec!["7001"]
        );
        assert_eq!(referencias_in("SPEI REF1000259"), vec!["1000259"]);
        assert!(referencias_in("REF 12345678").is_empty(), "8 digits");
        assert!(
            referencias_in("REF 00000000001234567").is_empty(),
            "too long"
        );
        assert!(
            referencias_in("REF FACT 1234").is_empty(),
            "a folio, not a referencia"
        );
        assert!(referencias_in("REFACCIONES 1234").is_empty());
        assert!(referencias_in("PAGO FACTURA 1000259").is_empty());
        assert!(referencias_in("REF 0000").is_empty());
    }

    #[test]
    fn legal_forms_in_one_spelling() {
        assert_eq!(legal_form("Servicios Integrales, S.A. de C.V."), "SACV");
        assert_eq!(
            legal_form("SERVICIOS INTEGRALES SOCIEDAD ANONIMA DE CAPITAL VARIABLE"),
            "SACV"
        );
        assert_eq!(
            legal_form("Servicios Integrales S. de R.L. de C.V."),
            "SRLCV"
        );
        assert_eq!(legal_form("SERVICIOS INTEGRALES S DE RL DE CV"), "SRLCV");
        assert_eq!(legal_form("Grupo Omega S.A.P.I. de C.V."), "SAPICV");
        assert_eq!(legal_form("SERVICIOS INTEGRALES SA DE"), "SA");
        assert_eq!(legal_form("Despacho Ruiz, S.C."), "SC");
        assert_eq!(legal_form("Servicios Integrales"), "");
        assert_eq!(legal_form("SA"), "");
        assert!(form_fits("SA", "SACV"));
        assert!(!form_fits("SACV", "SRLCV"));
        assert!(!form_fits("", "SACV"));
    }
}
