//! Text evidence: payer names compared tolerantly and invoice references (serie/folio, UUID fragments) pulled out
//! of free text such as the SPEI concepto.
//!
//! (About 540 lines of code and 150 of tests: names and references share the normalizing helpers, so they stay
//! in one file.)

use super::folio_lists;

/// Legal-form and filler tokens dropped from the end of a company name (after single letters are joined, so
/// `S.A. de C.V.` → `SA DE CV`).
pub(super) const LEGAL_FORMS: &[&str] = &[
    "SA",
    "DE",
    "CV",
    "SAPI",
    "SAB",
    "SRL",
    "RL",
    "SC",
    "AC",
    "SOFOM",
    "ENR",
    "ER",
    "SPR",
    "RI",
    "SAS",
    "SCP",
    "SOC",
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
    "EN",
    "C",
    "S",
    "L",
    "R",
    "I",
    "P",
    "B",
    "V",
    "Y",
    "INC",
    "LLC",
    "LTD",
    "CO",
    "CORP",
];

/// Abbreviations banks and payers use, expanded before comparison.
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("CIA", "COMPANIA"),
    ("CORP", "CORPORACION"),
    ("CORPO", "CORPORACION"),
    ("INTL", "INTERNACIONAL"),
    ("INTERNAC", "INTERNACIONAL"),
    ("DIST", "DISTRIBUIDORA"),
    ("DISTR", "DISTRIBUIDORA"),
    ("DISTRIB", "DISTRIBUIDORA"),
    ("SERV", "SERVICIOS"),
    ("SERVS", "SERVICIOS"),
    ("SVCS", "SERVICIOS"),
    ("IND", "INDUSTRIAL"),
    ("INDS", "INDUSTRIAS"),
    ("MEX", "MEXICO"),
    ("MEXICANA", "MEXICANA"),
    ("GPO", "GRUPO"),
    ("CONST", "CONSTRUCTORA"),
    ("COMERC", "COMERCIALIZADORA"),
    ("COMER", "COMERCIALIZADORA"),
    ("ADMON", "ADMINISTRACION"),
    ("TRANSP", "TRANSPORTES"),
    ("TRANS", "TRANSPORTES"),
    ("ALIM", "ALIMENTOS"),
    ("PROD", "PRODUCTOS"),
    ("PRODS", "PRODUCTOS"),
    ("TEC", "TECNOLOGIA"),
    ("TECNOL", "TECNOLOGIA"),
    ("HNOS", "HERMANOS"),
    ("SUC", "SUCURSAL"),
    ("NAL", "NACIONAL"),
];

const STOPWORDS: &[&str] = &[
    "DE", "DEL", "LA", "LAS", "LOS", "EL", "Y", "E", "THE", "AND", "OF",
];

/// A name transliterated to ASCII, upper-cased, with every character but letters and digits turned into a space.
pub(super) fn cleaned_upper(name: &str) -> String {
    // Printable ASCII names (most) skip the transliteration, which would give them back unchanged (it drops
    // control characters).
    if name.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        name.chars()
            .map(|c| keep_alnum(c.to_ascii_uppercase()))
            .collect()
    } else {
        transliterated_upper(name)
    }
}

fn transliterated_upper(name: &str) -> String {
    deunicode::deunicode(name)
        .to_uppercase()
        .chars()
        .map(keep_alnum)
        .collect()
}

fn keep_alnum(c: char) -> char {
    if c.is_ascii_alphanumeric() {
        c
    } else {
        ' '
    }
}

/// A name's tokens, cleaned and upper-cased, with runs of single letters joined: "S A P I DE C V" → "SAPI DE CV".
pub(super) fn name_tokens(name: &str) -> Vec<String> {
    let cleaned = cleaned_upper(name);
    let mut tokens: Vec<String> = Vec::new();
    let mut run = String::new();
    for t in cleaned.split_whitespace() {
        if t.len() == 1 && t.bytes().all(|c| c.is_ascii_alphabetic()) {
            run.push_str(t);
        } else {
            if !run.is_empty() {
                tokens.push(std::mem::take(&mut run));
            }
            tokens.push(t.to_string());
        }
    }
    if !run.is_empty() {
        tokens.push(run);
    }
    tokens
}

/// A company or person name reduced to a comparison key: ASCII, upper case, no punctuation, single letters joined
/// (`S.A.` → `SA`), abbreviations expanded, legal-form suffixes and stopwords dropped, tokens joined by one space.
pub fn name_key(name: &str) -> String {
    let mut tokens = name_tokens(name);
    // Legal forms at the end (repeatedly), keeping at least one token.
    while tokens.len() > 1 && LEGAL_FORMS.contains(&tokens[tokens.len() - 1].as_str()) {
        tokens.pop();
    }
    let tokens: Vec<String> = tokens
        .into_iter()
        .map(|t| {
            ABBREVIATIONS
                .iter()
                .find(|(a, _)| *a == t)
                .map(|(_, e)| e.to_string())
                .unwrap_or(t)
        })
        .filter(|t| !STOPWORDS.contains(&t.as_str()))
        .collect();
    tokens.join(" ")
}

/// How alike two name keys are, 0.0–1.0. A key that is a long prefix of the other (bank truncation) scores 0.95.
pub fn name_similarity(a: &str, b: &str) -> f64 {
    NameQuery::new(a).similarity(b, &sorted_tokens(b), 0.0)
}

/// A name key's words in sorted order, for the order-tolerant comparison ("PEREZ JUAN" vs "JUAN PEREZ").
pub fn sorted_tokens(s: &str) -> String {
    let mut t: Vec<&str> = s.split(' ').collect();
    t.sort_unstable();
    t.join(" ")
}

/// One name key compared with many: its bit-parallel Levenshtein tables (Hyyrö's formulation of Myers'
/// algorithm, exact for ASCII keys up to 64 bytes, which name keys are) are built once per query.
pub struct NameQuery<'a> {
    key: &'a str,
    sorted: String,
    peq: Option<Box<[u64; 128]>>,
    peq_sorted: Option<Box<[u64; 128]>>,
}

fn pattern_table(p: &str) -> Option<Box<[u64; 128]>> {
    if p.is_empty() || p.len() > 64 || !p.is_ascii() {
        return None;
    }
    let mut t = Box::new([0u64; 128]);
    for (i, c) in p.bytes().enumerate() {
        t[usize::from(c)] |= 1u64 << i;
    }
    Some(t)
}

/// Levenshtein distance between the pattern of `peq` (length `m`, 1..=64) and an ASCII text.
fn myers(peq: &[u64; 128], m: usize, text: &[u8]) -> usize {
    let last = 1u64 << (m - 1);
    let (mut pv, mut mv, mut score) = (!0u64, 0u64, m);
    for &c in text {
        let eq = peq[usize::from(c & 0x7f)];
        let xv = eq | mv;
        let xh = ((eq & pv).wrapping_add(pv) ^ pv) | eq;
        let ph = mv | !(xh | pv);
        let mh = pv & xh;
        if ph & last != 0 {
            score += 1;
        } else if mh & last != 0 {
            score -= 1;
        }
        let ph = (ph << 1) | 1;
        let mh = mh << 1;
        pv = mh | !(xv | ph);
        mv = ph & xv;
    }
    score
}

/// `strsim::normalized_levenshtein`, through the query's table when both sides are ASCII.
fn normalized_lev(peq: Option<&[u64; 128]>, a: &str, b: &str) -> f64 {
    match peq {
        Some(t) if b.is_ascii() => {
            if b.is_empty() {
                return 0.0;
            }
            let d = myers(t, a.len(), b.as_bytes());
            1.0 - d as f64 / a.len().max(b.len()) as f64
        }
        _ => strsim::normalized_levenshtein(a, b),
    }
}

impl<'a> NameQuery<'a> {
    pub fn new(key: &'a str) -> NameQuery<'a> {
        let sorted = sorted_tokens(key);
        NameQuery {
            key,
            peq: pattern_table(key),
            peq_sorted: pattern_table(&sorted),
            sorted,
        }
    }

    /// [`name_similarity`] of the query and `b` (whose [`sorted_tokens`] are `b_sorted`). When the result is
    /// below `floor` it may be returned as any value below `floor` (the costlier Jaro-Winkler is then skipped).
    pub fn similarity(&self, b: &str, b_sorted: &str, floor: f64) -> f64 {
        let a = self.key;
        if a.is_empty() || b.is_empty() {
            return 0.0;
        }
        if a == b {
            return 1.0;
        }
        if is_long_prefix(a, b) {
            return 0.95;
        }
        let ts = normalized_lev(self.peq_sorted.as_deref(), &self.sorted, b_sorted);
        let lev = normalized_lev(self.peq.as_deref(), a, b);
        // Jaro-Winkler alone is generous to short names sharing a prefix; require the edit distance to agree.
        if lev + 0.1 <= ts || (lev + 0.1 < floor && ts < floor) {
            return ts;
        }
        let jw = strsim::jaro_winkler(a, b);
        (jw.min(lev + 0.1)).max(ts)
    }
}

/// Character counts of a name key (`A`–`Z`, `0`–`9`, space; anything else in the last bin), its length in
/// characters and its first byte, for [`name_similarity_bound`]: one cache line, so that most compared names are
/// ruled out without reading their text. Keys longer than 255 bytes (whose counts could overflow a byte) get no
/// counts and are always compared in full.
#[derive(Debug, Clone)]
pub struct NameHistogram {
    counts: [u8; 38],
    chars: u16,
    first: u8,
    oversize: bool,
}

pub fn name_histogram(key: &str) -> NameHistogram {
    let mut h = NameHistogram {
        counts: [0u8; 38],
        chars: 0,
        first: key.bytes().next().unwrap_or(0),
        oversize: key.len() > 255,
    };
    if h.oversize {
        return h;
    }
    for c in key.chars() {
        let bin = match c {
            'A'..='Z' => c as usize - 'A' as usize,
            '0'..='9' => 26 + (c as usize - '0' as usize),
            ' ' => 36,
            _ => 37,
        };
        h.counts[bin] += 1;
        h.chars += 1;
    }
    h
}

/// The bound of [`name_similarity_bound`] from the sketches alone, and whether one key may be a long prefix of the
/// other (then the keys themselves decide, see [`name_similarity_bound`]).
pub fn sketch_bound(ha: &NameHistogram, hb: &NameHistogram) -> (f64, bool) {
    if ha.oversize || hb.oversize {
        return (1.0, false);
    }
    if ha.chars == 0 || hb.chars == 0 {
        return (0.0, false);
    }
    // Every character is in one bin, so what one key has in excess is its length less what both share.
    let common: u32 = ha
        .counts
        .iter()
        .zip(hb.counts.iter())
        .map(|(x, y)| u32::from(*x.min(y)))
        .sum();
    let (more, fewer) = (u32::from(ha.chars) - common, u32::from(hb.chars) - common);
    // A prefix has no character its longer key lacks.
    let maybe_prefix =
        ha.first == hb.first && ha.chars.min(hb.chars) >= 12 && (more == 0 || fewer == 0);
    let (la, lb) = (f64::from(ha.chars), f64::from(hb.chars));
    let lev = 1.0 - f64::from(more.max(fewer)) / la.max(lb);
    // Jaro matches pair equal characters, so there are at most `common`; Winkler's prefix bonus is at most 4 × 0.1.
    let c = f64::from(common);
    let jaro = (c / la + c / lb + 1.0) / 3.0;
    let jw = jaro + 0.4 * (1.0 - jaro);
    (jw.min(lev + 0.1).max(lev), maybe_prefix)
}

/// An upper bound of [`name_similarity`] that costs a few dozen additions: the edit distance is at least the
/// larger of the characters one key has in excess and the other lacks, which bounds both Levenshtein terms (the
/// token-sorted one has the same characters), and Jaro cannot match more characters than the keys share. Equal
/// keys and long prefixes (scored 1.0 and 0.95) are bounded by 1.0.
pub fn name_similarity_bound(a: &str, ha: &NameHistogram, b: &str, hb: &NameHistogram) -> f64 {
    let (bound, maybe_prefix) = sketch_bound(ha, hb);
    if maybe_prefix && is_long_prefix(a, b) {
        return 1.0;
    }
    bound
}

/// One key a prefix of the other, of at least 12 bytes (bank truncation).
pub fn is_long_prefix(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    short.len() >= 12 && long.starts_with(short)
}

/// Tokens of a name key worth indexing for blocking (skip very short ones).
pub fn block_tokens(key: &str) -> impl Iterator<Item = &str> {
    key.split(' ').filter(|t| t.len() >= 3)
}

/// One invoice reference found in free text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Fragment {
    /// Serie (letters, upper case) when the text put letters right before the number, and the folio digits
    /// without leading zeros.
    Folio {
        serie: Option<String>,
        number: String,
    },
    /// Hexadecimal part of a UUID (no dashes, upper case), 8 to 32 characters.
    Uuid(String),
}

/// Words that introduce a folio rather than being its serie.
const FOLIO_WORDS: &[&str] = &[
    "F",
    "FA",
    "FAC",
    "FACT",
    "FACTS",
    "FACS",
    "FCT",
    "FCTS",
    "FACTURA",
    "FACTURAS",
    "FOLIO",
    "FOLIOS",
    "FOL",
    "FOLS",
    "HASTA",
    "NO",
    "NUM",
    "NUMERO",
    "REF",
    "REFERENCIA",
    "PAGO",
    "PAG",
    "INV",
    "INVOICE",
    "DOC",
    "CFDI",
    "Y",
    "E",
    "ABONO",
    "LIQ",
    "LIQUIDACION",
    "PARCIAL",
    "ANTICIPO",
    "SPEI",
    "TRANSF",
    "TRANSFERENCIA",
    "DE",
    "LA",
    "EL",
    "AL",
];

/// Serie/folio and UUID fragments in free text, tolerant of formatting: `FAC A-00123`, `A123`, `folio 123`,
/// `F-123/124`, `uuid 3FA85F64`, accents and case, compact lists (`FACTS 1217-1219`, `FACT 1471/72`, see
/// `folio_lists`). Numbers longer than 10 digits (accounts, CLABEs) are ignored.
pub fn fragments(text: &str) -> Vec<Fragment> {
    let ascii = deunicode::deunicode(text).to_uppercase();
    let mut out: Vec<Fragment> = Vec::new();
    let push = |out: &mut Vec<Fragment>, f: Fragment| {
        if !out.contains(&f) {
            out.push(f);
        }
    };
    // UUID fragments: runs of hex digits and dashes.
    let mut run = String::new();
    for c in ascii.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_hexdigit() || c == '-' {
            run.push(c);
        } else {
            let hex: String = run.chars().filter(|c| *c != '-').collect();
            let has_letter = hex.chars().any(|c| c.is_ascii_alphabetic());
            let has_digit = hex.chars().any(|c| c.is_ascii_digit());
            if hex.len() >= 8 && hex.len() <= 32 && has_letter && has_digit {
                push(&mut out, Fragment::Uuid(hex));
            }
            run.clear();
        }
    }
    // Serie/folio: alphanumeric tokens; a token ending a compact list (`1217-1219`, `1471/72`) stands for the
    // folios the list names.
    let spans = folio_lists::alnum_tokens(&ascii);
    let mut compact = folio_lists::compact(&ascii, &spans).into_iter().peekable();
    let tokens: Vec<&str> = spans.iter().map(|(_, t)| *t).collect();
    for (i, tok) in tokens.iter().enumerate() {
        if let Some(r) = compact.next_if(|r| r.token == i) {
            for number in r.numbers {
                if let Some(s) = &r.serie {
                    push(
                        &mut out,
                        Fragment::Folio {
                            serie: Some(s.clone()),
                            number: number.clone(),
                        },
                    );
                }
                push(
                    &mut out,
                    Fragment::Folio {
                        serie: None,
                        number,
                    },
                );
            }
            continue;
        }
        let letters: String = tok
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        let rest = &tok[letters.len()..];
        if rest.is_empty() || !rest.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let number = rest.trim_start_matches('0');
        if number.is_empty() || rest.len() > 10 {
            continue;
        }
        let serie = if !letters.is_empty() {
            (!FOLIO_WORDS.contains(&letters.as_str()) && letters.len() <= 6).then_some(letters)
        } else if i > 0 {
            let prev = tokens[i - 1];
            (prev.len() <= 4
                && prev.chars().all(|c| c.is_ascii_alphabetic())
                && !FOLIO_WORDS.contains(&prev))
            .then(|| prev.to_string())
        } else {
            None
        };
        if let Some(s) = serie {
            push(
                &mut out,
                Fragment::Folio {
                    serie: Some(s),
                    number: number.to_string(),
                },
            );
        }
        push(
            &mut out,
            Fragment::Folio {
                serie: None,
                number: number.to_string(),
            },
        );
    }
    out
}

/// The key an invoice folio is indexed under: its digits without leading zeros when it is all digits (after an
/// optional letter prefix), else the upper-case alphanumerics.
pub fn folio_key(folio: &str) -> String {
    // ASCII (nearly every folio, a million per run) needs neither transliteration nor Unicode case mapping.
    let up: String = if folio.is_ascii() {
        folio
            .bytes()
            .filter(u8::is_ascii_alphanumeric)
            .map(|b| char::from(b.to_ascii_uppercase()))
            .collect()
    } else {
        transliterated_alphanumerics(folio)
    };
    folio_from_alphanumerics(up)
}

/// [`folio_key`] of a folio already reduced to upper-case alphanumerics.
fn folio_from_alphanumerics(up: String) -> String {
    let letters = up.chars().take_while(|c| c.is_ascii_alphabetic()).count();
    let digits = &up[letters..];
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        let n = digits.trim_start_matches('0');
        if n.is_empty() {
            "0".into()
        } else {
            n.to_string()
        }
    } else {
        up
    }
}

/// Upper-case ASCII alphanumerics of any text, accents and other scripts transliterated first.
fn transliterated_alphanumerics(text: &str) -> String {
    deunicode::deunicode(text)
        .to_uppercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect()
}

/// A serie compared upper-case, alphanumerics only.
pub fn serie_key(serie: &str) -> String {
    transliterated_alphanumerics(serie)
}

/// Identifiers (clave de rastreo, NumOperacion, references) compared upper-case, alphanumerics only, without
/// leading zeros.
pub fn id_key(s: &str) -> String {
    let up: String = s
        .to_uppercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    up.trim_start_matches('0').to_string()
}

/// Damerau-style closeness of two folio numbers: true when one edit (or one transposition) apart.
pub fn folio_typo(a: &str, b: &str) -> bool {
    a != b && strsim::damerau_levenshtein(a, b) == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `name_key` with every name transliterated (as before the ASCII fast path).
    fn name_key_reference(name: &str) -> String {
        let cleaned = transliterated_upper(name);
        name_key(&cleaned)
    }

    #[test]
    fn ascii_names_skip_transliteration_with_the_same_result() {
        for name in [
            "Comercializadora Nandu, S.A. de C.V.",
            "grupo   omega_del-norte 123",
            "",
            " \t~`!@#$%^&*()[]{}|;:'\",.<>/?0aZz",
            "\u{7f}\u{1}ABC def",
        ] {
            assert_eq!(cleaned_upper(name), transliterated_upper(name), "{name:?}");
        }
        let printable: String = (0x20u8..0x7f).map(char::from).collect();
        assert_eq!(cleaned_upper(&printable), transliterated_upper(&printable));
        for b in (0u8..0x20).chain([0x7f]) {
            let name = format!("AB1{}C2", char::from(b));
            assert_eq!(name_key(&name), name_key_reference(&name), "{name:?}");
        }
    }

    #[test]
    fn similarity_bound_is_an_upper_bound() {
        let names = [
            "COMERCIALIZADORA NANDU",
            "COMERCIALIZADORA NANDUS",
            "NANDU COMERCIALIZADORA",
            "GRUPO OMEGA",
            "GRUPO OMEGAS DEL NORTE",
            "DISTRIBUIDORA ACEROS BAJIO",
            "DISTRIBUIDORA ACEROS BAJ",
            "DISTRIBUIDORA ACEROS",
            "TRANSPORTES NORTE",
            "TRANSPORTE NORTE 2",
            "PEREZ JUAN",
            "JUAN PEREZ",
            "A",
        ];
        for a in names {
            for b in names {
                let s = name_similarity(a, b);
                let u = name_similarity_bound(a, &name_histogram(a), b, &name_histogram(b));
                assert!(s <= u, "{a} / {b}: {s} > {u}");
            }
        }
    }

    #[test]
    fn bit_parallel_similarity_is_strsim() {
        let reference = |a: &str, b: &str| -> f64 {
            if a.is_empty() || b.is_empty() {
                return 0.0;
            }
            if a == b {
                return 1.0;
            }
            let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
            if short.len() >= 12 && long.starts_with(short) {
                return 0.95;
            }
            let jw = strsim::jaro_winkler(a, b);
            let ts = strsim::normalized_levenshtein(&sorted_tokens(a), &sorted_tokens(b));
            let lev = strsim::normalized_levenshtein(a, b);
            (jw.min(lev + 0.1)).max(ts)
        };
        let names = [
            "GONZALEZ HERNANDEZ COMERCIALIZADORA NORTE",
            "GONZALEZ HERNANDEZ COMERCIALIZADORA NO",
            "HERNANDEZ MARTINEZ COMERCIALIZADORA NORTE",
            "HERNANDEZ GONZALEZ COMERCIALIZADORA NORTE",
            "PEREZ JUAN",
            "JUAN PEREZ",
            "A",
            "AB",
            "ACME",
            "ACMA SOLUCIONES",
            "ÑANDU",
            "X 1234567890123456789012345678901234567890123456789012345678901234567890",
            "X 123456789012345678901234567890123456789012345678901234567890123",
        ];
        for a in names {
            let q = NameQuery::new(a);
            for b in names {
                let want = reference(a, b);
                assert_eq!(q.similarity(b, &sorted_tokens(b), 0.0), want, "{a} / {b}");
                assert_eq!(name_similarity(a, b), want, "{a} / {b}");
                let cut = q.similarity(b, &sorted_tokens(b), 0.88);
                assert!(cut == want || (cut < 0.88 && want < 0.88), "{a} / {b}");
            }
        }
    }

    #[test]
    fn legal_forms_punctuation_accents() {
        let k = name_key("Comercializadora Ñandú, S.A. de C.V.");
        assert_eq!(k, "COMERCIALIZADORA NANDU");
        assert_eq!(name_key("COMERCIALIZADORA NANDU SA DE CV"), k);
        assert_eq!(name_key("Grupo Omega S.A.P.I. de C.V."), "GRUPO OMEGA");
        assert_eq!(name_key("GPO OMEGA SAPI DE CV"), "GRUPO OMEGA");
        assert_eq!(name_key("Despacho Ruiz, S.C."), "DESPACHO RUIZ");
        assert_eq!(
            name_key("Transportes del Norte S. de R.L. de C.V."),
            "TRANSPORTES NORTE"
        );
        assert!(
            name_similarity(
                &name_key("DISTRIBUIDORA DE ACEROS DEL BAJIO SA DE"),
                &name_key("Distribuidora de Aceros del Bajío, S.A. de C.V.")
            ) >= 0.95
        );
        assert!(name_similarity(&name_key("ACME"), &name_key("ACMA SOLUCIONES")) < 0.9);
    }

    #[test]
    fn fragments_tolerate_formatting() {
        let f = fragments("PAGO FAC A-00123 Y F 124");
        assert!(f.contains(&Fragment::Folio {
            serie: Some("A".into()),
            number: "123".into()
        }));
        assert!(f.contains(&Fragment::Folio {
            serie: None,
            number: "124".into()
        }));
        let f = fragments("factura a123");
        assert!(f.contains(&Fragment::Folio {
            serie: Some("A".into()),
            number: "123".into()
        }));
        let f = fragments("uuid 3fa85f64-5717");
        assert!(f.contains(&Fragment::Uuid("3FA85F645717".into())));
        assert!(fragments("CLABE 012180001234567897").is_empty());
        assert_eq!(folio_key("A-000123"), "123");
        assert!(folio_typo("1243", "1234"));
    }

    #[test]
    fn folio_key_ascii_fast_path_agrees_with_transliteration() {
        let slow = |f: &str| folio_from_alphanumerics(transliterated_alphanumerics(f));
        for f in [
            "A-000123", "fa 0042", "  x-1/2 ", "000", "ABC", "b12c", "", "F-0001-A", "ñ-12",
            "Ébano 7",
        ] {
            assert_eq!(folio_key(f), slow(f), "{f:?}");
        }
    }
}
