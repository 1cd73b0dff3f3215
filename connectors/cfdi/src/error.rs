//! Errors of this crate: why a document, row or package entry could not be read, and where (line and column
//! computed from the byte offset).

use cuadra_sdk::{InputError, Location};

/// What kind of problem a parse error is, so callers can tell "not for us" from "broken".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input is larger than the configured cap.
    TooLarge,
    /// DOCTYPE or entity declarations (refused: entity expansion attacks).
    Forbidden,
    /// Not well-formed XML (or not UTF-8).
    Malformed,
    /// Well-formed, but not a CFDI Comprobante (e.g. retenciones, some other XML).
    NotComprobante,
    /// A CFDI version this crate does not read (3.2).
    Unsupported,
    /// A Comprobante with a missing or invalid attribute.
    Invalid,
}

/// A problem with one document. `line`/`column` are 1-based (column counts characters); `field` names the
/// element/attribute when known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}{}: {message}", field.as_ref().map(|f| format!(", {f}")).unwrap_or_default())]
pub struct ParseError {
    pub kind: ErrorKind,
    pub line: u64,
    pub column: u64,
    pub field: Option<String>,
    pub message: String,
}

impl ParseError {
    /// Builds an error at byte `offset` of `input`.
    pub fn at(input: &[u8], offset: u64, kind: ErrorKind, message: impl Into<String>) -> Self {
        let (line, column) = line_column(input, offset);
        ParseError {
            kind,
            line,
            column,
            field: None,
            message: message.into(),
        }
    }

    /// An error that concerns the whole input (no position inside it).
    pub fn whole(kind: ErrorKind, message: impl Into<String>) -> Self {
        ParseError {
            kind,
            line: 1,
            column: 1,
            field: None,
            message: message.into(),
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// As an SDK input error for `file` (and `entry` inside a package).
    pub fn to_input_error(&self, file: Option<&str>, entry: Option<&str>) -> InputError {
        InputError::new(
            Location {
                file: file.map(str::to_string),
                entry: entry.map(str::to_string),
                line: Some(self.line),
                column: Some(self.column),
                field: self.field.clone(),
            },
            self.message.clone(),
        )
    }
}

/// 1-based line and column (in characters) of byte `offset` in `input`; offsets past the end are clamped.
pub fn line_column(input: &[u8], offset: u64) -> (u64, u64) {
    let end = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(input.len());
    let before = input.get(..end).unwrap_or_default();
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count() as u64;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let tail = before.get(line_start..).unwrap_or_default();
    // Count characters, not bytes: UTF-8 continuation bytes do not start a character.
    let column = 1 + tail.iter().filter(|&&b| b & 0xC0 != 0x80).count() as u64;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_from_offset() {
        let s = "ab\ncñd\nx".as_bytes();
        assert_eq!(line_column(s, 0), (1, 1));
        assert_eq!(line_column(s, 3), (2, 1));
        // 'd' is after 'c' and the two-byte 'ñ'.
        assert_eq!(line_column(s, 6), (2, 3));
        assert_eq!(line_column(s, 999), (3, 2));
    }
}
