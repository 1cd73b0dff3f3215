//! Return and reversal marks: which entries undo an earlier one (a returned SPEI, a reversed credit). Every
//! format ends here: camt `RvslInd=true` and `RtrInf`, MT940 `RC`/`RD` marks (set by their parsers), and for any
//! format a debit whose text says so (`DEVOLUCION`, `RTRN`, `REVERSO`, ...: CSV presets, OFX, MT940 `:86:`). Such an
//! entry gets the status [`REVERSAL`]; reconcile links it to the credit it undoes (docs/reconcile.md, Returns).

/// The status of an entry that reverses an earlier one.
pub const REVERSAL: &str = "reversal";

/// Words that mark a debit as a return of an earlier credit (upper case, accents dropped).
const RETURN_WORDS: &[&str] = &[
    "DEVOLUCION",
    "DEVOLUCIONES",
    "DEVOL",
    "DEVUELTO",
    "DEVUELTA",
    "RTRN",
    "RETURN",
    "RETURNED",
    "REVERSO",
    "REVERSA",
    "REVERSAL",
    "REVERSION",
];

/// Whether a text names a return or reversal (as a whole word: `DEVOLUCION`, `Devolución SPEI`, `RTRN`, ...).
pub fn says_return(text: &str) -> bool {
    let mut word = String::new();
    let mut hit = false;
    let mut check = |w: &mut String| {
        if !w.is_empty() {
            hit |= RETURN_WORDS.contains(&w.as_str());
            w.clear();
        }
    };
    for c in text.chars() {
        let c = match c {
            'á' | 'Á' => 'A',
            'é' | 'É' => 'E',
            'í' | 'Í' => 'I',
            'ó' | 'Ó' => 'O',
            'ú' | 'Ú' | 'ü' | 'Ü' => 'U',
            c => c.to_ascii_uppercase(),
        };
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            check(&mut word);
        }
    }
    check(&mut word);
    hit
}

/// The status an entry keeps: [`REVERSAL`] for a booked debit whose texts say it is a return, else `status`.
/// Pending and information-only entries are never marked (no money moved yet).
pub fn status_of(status: Option<String>, debit: bool, texts: &[Option<&str>]) -> Option<String> {
    if !debit || matches!(status.as_deref(), Some(REVERSAL | "pending" | "info")) {
        return status;
    }
    if texts.iter().flatten().any(|t| says_return(t)) {
        Some(REVERSAL.to_string())
    } else {
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_words_are_whole_words() {
        assert!(says_return("DEVOLUCION SPEI CLAVE 0123"));
        assert!(says_return("Devolución por cuenta inexistente"));
        assert!(says_return("RTRN AC04"));
        assert!(says_return("reverso de abono"));
        assert!(!says_return("PAGO FACTURA A-1008"));
        assert!(!says_return("DEVELOPMENT SERVICES"));
        assert!(!says_return("RETURNS DEPT"));
    }

    #[test]
    fn only_booked_debits_are_marked() {
        let t = [Some("DEVOLUCION SPEI")];
        assert_eq!(status_of(None, true, &t).as_deref(), Some(REVERSAL));
        assert_eq!(
            status_of(Some("debit".into()), true, &t).as_deref(),
            Some(REVERSAL)
        );
        assert_eq!(status_of(None, false, &t), None);
        assert_eq!(
            status_of(Some("pending".into()), true, &t).as_deref(),
            Some("pending")
        );
        assert_eq!(status_of(None, true, &[Some("COMISION")]), None);
    }
}
