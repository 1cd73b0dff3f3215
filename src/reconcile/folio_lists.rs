//! Compact folio lists in free text: ranges (`FACTS 1217-1219`, `FACS 1246 AL 1248`, `DE LA 1346 A LA 1348`) and
//! abbreviated series (`FACT 1471/72`, `1217-19`), read into the folios they stand for without inventing citations
//! from dates, amounts or account numbers.

/// Most folios a range adds beyond its first (a longer "range" is more likely a date or an amount).
const MAX_SPAN: u64 = 15;
/// The smallest first folio of a range or abbreviation: days, months and small counts stay what they are.
const MIN_FIRST: u64 = 100;
/// Most tokens between the two ends of a range (`A LA`, `HASTA EL`).
const MAX_WORDS_BETWEEN: usize = 2;

/// Words that say a folio (or a list of them) follows.
const INTRO_WORDS: &[&str] = &[
    "F",
    "FA",
    "FAC",
    "FACS",
    "FACT",
    "FACTS",
    "FCT",
    "FCTS",
    "FACTURA",
    "FACTURAS",
    "FOLIO",
    "FOLIOS",
    "FOL",
    "FOLS",
    "INV",
    "INVOICE",
    "INVOICES",
    "DOC",
    "DOCS",
    "CFDI",
    "PAGO",
    "PAG",
    "ABONO",
    "LIQ",
    "LIQUIDACION",
];

/// Words that may stand between an introducing word and its folio (`FACTURAS DE LA 1346`, `FOLIO NO 12`).
const FILLER_WORDS: &[&str] = &[
    "DE", "LA", "EL", "DEL", "LAS", "LOS", "NO", "NUM", "NUMERO", "N", "Y", "E",
];

/// What joins the two ends: a range (every folio between them) or one more folio of a list.
#[derive(Clone, Copy, PartialEq)]
enum Join {
    Range,
    List,
}

fn join_of(gap: &str) -> Option<Join> {
    match gap {
        "/" => Some(Join::List),
        "-" | "AL" | "A" | "A LA" | "A EL" | "AL LA" | "HASTA" | "HASTA LA" | "HASTA EL" => {
            Some(Join::Range)
        }
        _ => None,
    }
}

/// A token the folios of a range replace: its own reading is dropped and `numbers` (digits without leading
/// zeros, under `serie` when the range's first folio had one) are read in its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    pub token: usize,
    pub serie: Option<String>,
    pub numbers: Vec<String>,
}

/// A folio token: letters glued before the digits (a serie unless they introduce the folio) and the number.
fn folio_token(tok: &str) -> Option<(Option<&str>, &str)> {
    let letters = tok.bytes().take_while(u8::is_ascii_alphabetic).count();
    let digits = &tok[letters..];
    if digits.is_empty() || digits.len() > 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let serie = &tok[..letters];
    let serie =
        (!serie.is_empty() && serie.len() <= 6 && !INTRO_WORDS.contains(&serie)).then_some(serie);
    Some((serie, digits))
}

/// Whether the folio at token `i` is introduced as one: a serie glued to it, or going back over filler words,
/// an introducing word, another folio (a list going on) or the start of the text.
fn introduced(tokens: &[(usize, &str)], i: usize, glued_serie: bool) -> bool {
    if glued_serie {
        return true;
    }
    for k in (0..i).rev() {
        let t = tokens[k].1;
        if FILLER_WORDS.contains(&t) {
            continue;
        }
        return INTRO_WORDS.contains(&t) || folio_token(t).is_some();
    }
    true
}

/// The text between two tokens, its words separated by one space and its punctuation kept (`" / "` → `"/"`).
fn gap<'a>(text: &'a str, tokens: &[(usize, &'a str)], i: usize, j: usize) -> String {
    let from = tokens[i].0 + tokens[i].1.len();
    let to = tokens[j].0;
    let between = text.get(from..to).unwrap_or("");
    between.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The ranges and abbreviated series among `tokens` (byte offset and text of each alphanumeric run of `text`,
/// upper-case ASCII), as replacements of the tokens they rewrite, in order.
pub fn compact(text: &str, tokens: &[(usize, &str)]) -> Vec<Replacement> {
    let mut out = Vec::new();
    // The last folio read: its token, serie, value and significant digits; and whether it ended a range or an
    // abbreviation (a chain `1471/72/73` goes on from the value it stood for).
    let mut last: Option<(usize, Option<&str>, u64, String)> = None;
    for (j, (_, tok)) in tokens.iter().enumerate() {
        let Some((serie_b, digits_b)) = folio_token(tok) else {
            continue;
        };
        let sig_b = digits_b.trim_start_matches('0');
        if let Some((i, serie_a, a, sig_a)) = last.take() {
            if let Some(r) = link(text, tokens, (i, serie_a, a, &sig_a), (j, serie_b, sig_b)) {
                let b: u64 = r.numbers.last().and_then(|n| n.parse().ok()).unwrap_or(0);
                let sig = b.to_string();
                out.push(r);
                last = Some((j, serie_a, b, sig));
                continue;
            }
        }
        if let Ok(v) = sig_b.parse::<u64>() {
            last = Some((j, serie_b, v, sig_b.to_string()));
        }
    }
    out
}

/// The replacement of token `j` when it ends a range or an abbreviation starting at token `i`.
fn link(
    text: &str,
    tokens: &[(usize, &str)],
    (i, serie_a, a, sig_a): (usize, Option<&str>, u64, &str),
    (j, serie_b, sig_b): (usize, Option<&str>, &str),
) -> Option<Replacement> {
    if j - i - 1 > MAX_WORDS_BETWEEN || a < MIN_FIRST || sig_b.is_empty() {
        return None;
    }
    let join = join_of(&gap(text, tokens, i, j))?;
    if serie_b.is_some() && serie_b != serie_a {
        return None;
    }
    // An abbreviated end (`1471/72`) takes the first folio's leading digits.
    let b: u64 = if sig_b.len() < sig_a.len() && serie_b.is_none() {
        format!("{}{sig_b}", &sig_a[..sig_a.len() - sig_b.len()])
            .parse()
            .ok()?
    } else if join == Join::List {
        // A full second folio of a list is read on its own.
        return None;
    } else {
        sig_b.parse().ok()?
    };
    if b <= a || b - a > MAX_SPAN {
        return None;
    }
    if !introduced(tokens, i, serie_a.is_some()) {
        return None;
    }
    let numbers = match join {
        Join::Range => (a + 1..=b).map(|n| n.to_string()).collect(),
        Join::List => vec![b.to_string()],
    };
    Some(Replacement {
        token: j,
        serie: serie_a.map(str::to_string),
        numbers,
    })
}

/// The alphanumeric runs of `text` with their byte offsets.
pub fn alnum_tokens(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (k, c) in text.char_indices() {
        match (c.is_ascii_alphanumeric(), start) {
            (true, None) => start = Some(k),
            (false, Some(s)) => {
                out.push((s, &text[s..k]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &text[s..]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Vec<(Option<String>, Vec<String>)> {
        let up = text.to_uppercase();
        let toks = alnum_tokens(&up);
        compact(&up, &toks)
            .into_iter()
            .map(|r| (r.serie, r.numbers))
            .collect()
    }

    fn nums(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ranges_and_abbreviations() {
        assert_eq!(read("FACT 1471/72"), vec![(None, nums(&["1472"]))]);
        assert_eq!(
            read("FACS 1246 AL 1248"),
            vec![(None, nums(&["1247", "1248"]))]
        );
        assert_eq!(
            read("PAGO DE LA 1346 A LA 1348"),
            vec![(None, nums(&["1347", "1348"]))]
        );
        assert_eq!(read("DE LA 1346 A LA 1348").len(), 1);
        assert_eq!(
            read("FACTS 1217-1219"),
            vec![(None, nums(&["1218", "1219"]))]
        );
        assert_eq!(read("facts 1217-19"), vec![(None, nums(&["1218", "1219"]))]);
        assert_eq!(
            read("FACT 1471/72/73"),
            vec![(None, nums(&["1472"])), (None, nums(&["1473"]))]
        );
        assert_eq!(
            read("FACTURAS A1217 HASTA LA 1219"),
            vec![(Some("A".into()), nums(&["1218", "1219"]))]
        );
        assert_eq!(read("FACT 1100, 1217-1218").len(), 1);
    }

    proptest::proptest! {
        /// The text reader never panics, whatever the concepto (any Unicode, any length).
        #[test]
        fn reading_any_text_never_panics(s in "\\PC{0,300}") {
            let _ = crate::reconcile::text::fragments(&s);
            let _ = read(&s);
            let _ = crate::reconcile::evidence::referencias_in(&s);
            let _ = crate::reconcile::evidence::legal_form(&s);
        }

        /// On folio-like text, a replacement stands for at most MAX_SPAN folios, each above the folio before it
        /// and at least MIN_FIRST, and only where some number has three significant digits.
        #[test]
        fn compact_lists_stay_small_and_increasing(
            s in "(FACT |FACS |PAGO |DE LA |AL |A LA |HASTA |/|-|\\.|,| |[0-9]{1,6}){0,12}"
        ) {
            let up = s.to_uppercase();
            let toks = alnum_tokens(&up);
            for r in compact(&up, &toks) {
                proptest::prop_assert!(!r.numbers.is_empty() && r.numbers.len() as u64 <= MAX_SPAN);
                let v: Vec<u64> = r.numbers.iter().map(|n| n.parse().unwrap()).collect();
                proptest::prop_assert!(v[0] > MIN_FIRST);
                proptest::prop_assert!(v.windows(2).all(|w| w[1] == w[0] + 1));
                proptest::prop_assert!(r.token < toks.len());
            }
        }
    }

    #[test]
    fn dates_amounts_and_accounts_are_not_ranges() {
        for text in [
            "PAGO 15/01/2026",
            "PAGO 2026-01-15",
            "FECHA 10-12-2025",
            "DEL 01 AL 15 DE ENERO",
            "CTA 0121800012345678-0121800012345679",
            "IMPORTE 1471.72",
            "$1,471.72",
            "FACT 1471/1472",
            "FACT 1471-1600",
            "FACT 1499/01",
            "SPEI 1246 AL 1248",
            "CLIENTE 55-1234-5678",
            "FACT A1246 AL B1248",
        ] {
            assert!(read(text).is_empty(), "{text}: {:?}", read(text));
        }
    }
}
