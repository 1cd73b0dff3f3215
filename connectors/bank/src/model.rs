//! The format-neutral transaction every parser produces before identities are assigned ([`Txn`]), the parsed
//! result handed to callers ([`Entry`], [`Parsed`]) and the error helper shared by the parsers.

use chrono::NaiveDate;
use cuadra_sdk::{InputError, Location, Money, PaymentRecord, RemittanceLine};
use std::ops::Range;

/// A reference the bank promises to be unique, strongest first. See [`crate::identity`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UniqueRef {
    /// ISO 20022 `UETR` (a UUID, globally unique).
    Uetr(String),
    /// camt `AcctSvcrRef` (unique per account servicer and account).
    AcctSvcrRef(String),
    /// OFX `FITID` (unique per account).
    Fitid(String),
    /// SPEI clave de rastreo (unique per sending bank and operation date).
    Rastreo(String),
    /// A CSV column the mapping declares as the provider's unique transaction id.
    RowId(String),
}

/// One transaction as a parser saw it, before its identity is computed.
#[derive(Debug, Clone)]
pub struct Txn {
    /// Index of the statement (camt `Stmt`/`Rpt`/`Ntfctn`, MT940 message, OFX `STMTRS`) inside the file.
    pub statement: usize,
    /// The account as the file names it (IBAN, CLABE, account number); `None` when the file does not say.
    pub file_account: Option<String>,
    pub booked_on: NaiveDate,
    pub value_date: Option<NaiveDate>,
    /// Signed: credits positive, debits negative.
    pub amount: Money,
    pub unique_ref: Option<UniqueRef>,
    /// Sub-index inside one bank entry (camt batch split into `TxDtls`), so split parts keep distinct ids.
    pub part: Option<usize>,
    pub bank_reference: Option<String>,
    pub clave_rastreo: Option<String>,
    pub payer_name: Option<String>,
    pub payer_rfc: Option<String>,
    pub payer_account: Option<String>,
    pub referencia_numerica: Option<String>,
    pub concepto: Option<String>,
    /// Other references (end-to-end id, customer reference, creditor reference) used in the fallback hash and
    /// offered to matching through `concepto` when nothing else is there.
    pub other_refs: Vec<String>,
    pub remittance: Vec<RemittanceLine>,
    /// `booked`, `pending`, `info`, `reversal`, or the provider's status text.
    pub status: Option<String>,
    /// Byte range of the entry in the file (the delivery's `raw`).
    pub span: Range<usize>,
    /// 1-based line where the entry starts.
    pub line: u64,
}

impl Txn {
    pub fn new(booked_on: NaiveDate, amount: Money) -> Self {
        Txn {
            statement: 0,
            file_account: None,
            booked_on,
            value_date: None,
            amount,
            unique_ref: None,
            part: None,
            bank_reference: None,
            clave_rastreo: None,
            payer_name: None,
            payer_rfc: None,
            payer_account: None,
            referencia_numerica: None,
            concepto: None,
            other_refs: Vec::new(),
            remittance: Vec::new(),
            status: None,
            span: 0..0,
            line: 0,
        }
    }
}

/// One parsed transaction: the normalized record plus where it sits in the file.
#[derive(Debug, Clone)]
pub struct Entry {
    pub record: PaymentRecord,
    /// Byte range of the entry in the input; `raw` of its delivery.
    pub span: Range<usize>,
    pub line: u64,
}

/// What parsing one file yields: the entries, and the problems with single entries that were skipped.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub entries: Vec<Entry>,
    pub problems: Vec<InputError>,
    /// Entries dropped because an earlier statement of the same file already carried them (same identity).
    pub duplicates: usize,
}

/// An [`InputError`] at a line (and optionally a field), the file name being filled in by the importer.
pub fn err_at(line: u64, field: Option<&str>, message: impl Into<String>) -> InputError {
    InputError::new(
        Location {
            line: (line > 0).then_some(line),
            field: field.map(str::to_string),
            ..Location::default()
        },
        message,
    )
}

/// Counts lines incrementally over a byte buffer, so positions turn into 1-based line numbers in O(n) overall.
#[derive(Debug)]
pub struct LineCounter {
    pos: usize,
    line: u64,
}

impl LineCounter {
    pub fn new() -> Self {
        LineCounter { pos: 0, line: 1 }
    }
    /// Line of byte `pos`; positions must not go backwards (they restart the count if they do).
    pub fn line_at(&mut self, bytes: &[u8], pos: usize) -> u64 {
        let pos = pos.min(bytes.len());
        if pos < self.pos {
            self.pos = 0;
            self.line = 1;
        }
        let seg = bytes.get(self.pos..pos).unwrap_or(&[]);
        self.line += seg.iter().filter(|b| **b == b'\n').count() as u64;
        self.pos = pos;
        self.line
    }
}

impl Default for LineCounter {
    fn default() -> Self {
        Self::new()
    }
}
