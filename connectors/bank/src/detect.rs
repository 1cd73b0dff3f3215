//! Statement formats and `--format auto` detection from the file name and its first bytes.

use std::fmt;

/// A statement format this crate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Camt052,
    Camt053,
    Camt054,
    Mt940,
    Ofx,
    Csv,
    /// Banxico CEP XML (one SPEI transfer).
    Cep,
}

impl Format {
    /// The name used in `--format`, in `Delivery::kind` and in logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Format::Camt052 => "camt052",
            Format::Camt053 => "camt053",
            Format::Camt054 => "camt054",
            Format::Mt940 => "mt940",
            Format::Ofx => "ofx",
            Format::Csv => "csv",
            Format::Cep => "cep",
        }
    }

    /// Parses a `--format` value (`camt053`, `camt.053`, `mt940`, `mt942`, `ofx`, `qfx`, `csv`, `cep`);
    /// `None` for `auto` or an unknown name (the caller reports the latter).
    pub fn parse(s: &str) -> Option<Format> {
        let k: String = s
            .trim()
            .to_ascii_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        Some(match k.as_str() {
            "camt052" => Format::Camt052,
            "camt053" | "camt" => Format::Camt053,
            "camt054" => Format::Camt054,
            "mt940" | "mt942" | "swift" | "sta" => Format::Mt940,
            "ofx" | "qfx" => Format::Ofx,
            "csv" => Format::Csv,
            "cep" => Format::Cep,
            _ => return None,
        })
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Guesses the format from the content first (namespaces, OFX markers, MT940 tags) and the file extension
/// second. `head` should be the first few kilobytes.
pub fn detect_format(file_name: &str, head: &[u8]) -> Option<Format> {
    let head = crate::text::strip_bom(head);
    if contains(head, b"SPEI_Tercero") {
        return Some(Format::Cep);
    }
    for (ns, f) in [
        (&b"camt.053."[..], Format::Camt053),
        (&b"camt.052."[..], Format::Camt052),
        (&b"camt.054."[..], Format::Camt054),
    ] {
        if contains(head, ns)
            && (contains(head, b"urn:iso:std:iso:20022") || contains(head, b"ISO:camt"))
        {
            return Some(f);
        }
    }
    if contains(head, b"OFXHEADER") || contains(head, b"<OFX>") || contains(head, b"<ofx>") {
        return Some(Format::Ofx);
    }
    let mt_lines = head
        .split(|b| *b == b'\n')
        .filter(|l| {
            l.starts_with(b":20:")
                || l.starts_with(b":25:")
                || l.starts_with(b":60F:")
                || l.starts_with(b":61:")
        })
        .count();
    if mt_lines >= 2 || head.starts_with(b"{1:F01") {
        return Some(Format::Mt940);
    }
    let lower = file_name.to_ascii_lowercase();
    let ext = lower.rsplit('.').next().unwrap_or("");
    match ext {
        "sta" | "940" | "942" | "swi" | "mt940" => Some(Format::Mt940),
        "ofx" | "qfx" => Some(Format::Ofx),
        "csv" | "tsv" => Some(Format::Csv),
        "txt"
            if head
                .iter()
                .filter(|b| matches!(b, b',' | b';' | b'\t' | b'|'))
                .count()
                >= 3 =>
        {
            Some(Format::Csv)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_content_then_extension() {
        let camt = br#"<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">"#;
        assert_eq!(detect_format("x.xml", camt), Some(Format::Camt054));
        assert_eq!(
            detect_format("x", b"OFXHEADER:100\nDATA:OFXSGML"),
            Some(Format::Ofx)
        );
        assert_eq!(
            detect_format("x.txt", b":20:X\r\n:25:123\r\n"),
            Some(Format::Mt940)
        );
        assert_eq!(detect_format("a.CSV", b"FECHA,ABONO"), Some(Format::Csv));
        assert_eq!(
            detect_format("cep.xml", b"<SPEI_Tercero FechaOperacion="),
            Some(Format::Cep)
        );
        assert_eq!(detect_format("a.xml", b"<cfdi:Comprobante>"), None);
        assert_eq!(Format::parse("camt.053"), Some(Format::Camt053));
        assert_eq!(Format::parse("auto"), None);
    }
}
