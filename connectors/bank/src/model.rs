//! The format-neutral transaction every parser produces before identities are assigned ([`Txn`]), the header
//! of the statement it belongs to ([`StatementHead`]: account, balances, numbering), the parsed result handed to
//! callers ([`Entry`], [`Parsed`], [`Warning`]) and the error helper shared by the parsers.

use chrono::NaiveDate;
use cuadra_sdk::{Currency, InputError, Location, Money, PaymentRecord, RemittanceLine};
use rust_decimal::Decimal;
use std::ops::Range;
use std::sync::Arc;

/// A balance a statement states (MT940 `:60F:`/`:62F:`, camt `Bal`), signed (credit positive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Balance {
    pub amount: Decimal,
    pub date: Option<NaiveDate>,
}

/// What a statement says about itself, shared by its transactions: used to tell a continuation from an
/// overlap and to check that the entries add up (see [`crate::identity`]).
#[derive(Debug, Clone, Default)]
pub struct StatementHead {
    /// Index of the statement inside the file (as [`Txn::statement`]).
    pub index: usize,
    /// 1-based line where the statement starts.
    pub line: u64,
    pub account: Option<String>,
    pub currency: Option<Currency>,
    /// The statement's own reference and number (MT940 `:20:` and `:28C:`, camt `Stmt/Id` and sequence
    /// numbers), used to recognise the same statement sent twice.
    pub reference: Option<String>,
    /// The statement's number and page (MT940 `:28C:` `n/p`; camt `ElctrncSeqNb`, else `LglSeqNb`, page 0):
    /// a statement numbered before the previous one does not continue it.
    pub sequence: Option<(u64, u64)>,
    pub opening: Option<Balance>,
    pub closing: Option<Balance>,
    /// Sum of the booked entries the parser read (pending and information-only entries excluded), in
    /// `currency`; `None` when an entry in another currency makes the sum meaningless.
    pub entries_sum: Option<Decimal>,
    /// The earliest booking date of its entries.
    pub first_booked: Option<NaiveDate>,
    /// Whether the format promises balances (MT940 statements, camt.053); an MT942 or camt.054 does not.
    pub expects_balances: bool,
    /// Field names for messages: opening and closing balance (`:60F:`/`:62F:`, `Bal/OPBD`/`Bal/CLBD`).
    pub opening_field: &'static str,
    pub closing_field: &'static str,
}

impl StatementHead {
    /// Opening + entries − closing, when all three are known (zero when the entries add up).
    pub fn difference(&self) -> Option<Decimal> {
        Some(self.opening?.amount + self.entries_sum? - self.closing?.amount)
    }
}

/// What kind of [`Warning`] a statement produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarningKind {
    /// Opening balance + entries ≠ closing balance: entries are missing, doubled or wrong. A conflict for a
    /// person (`report conflicts`).
    BalanceMismatch,
    /// A statement without its closing (or opening) balance: it cannot be checked (truncated file?).
    MissingBalance,
    /// A text field longer than the configured limit was cut (see [`crate::importer::Limits`]).
    FieldTruncated,
}

impl WarningKind {
    /// A stable name for summaries and conflict rows.
    pub fn as_str(&self) -> &'static str {
        match self {
            WarningKind::BalanceMismatch => "statement-balance",
            WarningKind::MissingBalance => "statement-missing-balance",
            WarningKind::FieldTruncated => "statement-field-truncated",
        }
    }
}

/// Something about a file that did not stop the import but that the summary (and, for a conflict, `report
/// conflicts`) must show. `location.file` is filled in by the importer.
#[derive(Debug, Clone)]
pub struct Warning {
    pub kind: WarningKind,
    pub location: Location,
    pub message: String,
}

impl Warning {
    pub fn new(
        kind: WarningKind,
        line: u64,
        field: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        let e = err_at(line, field, message);
        Warning {
            kind,
            location: e.location,
            message: e.message,
        }
    }

    /// Whether a person must look at it (kept as a conflict), rather than only read it in the summary.
    pub fn is_conflict(&self) -> bool {
        self.kind == WarningKind::BalanceMismatch
    }

    /// The warning as the SDK's located message (what a `warn` callback receives).
    pub fn to_input_error(&self) -> InputError {
        InputError::new(self.location.clone(), format!("warning: {}", self.message))
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

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
    /// A referencia numérica read from a structured field (camt `CdtrRefInf/Ref`, an MT940 `?2x` subfield, a CSV
    /// reference column): taken when `referencia_numerica` is empty, after the entry's identity is computed, so
    /// that the ids of statements imported before it was read stay the same.
    pub late_referencia: Option<String>,
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
    /// The statement's header, when the format has one (MT940, camt).
    pub head: Option<Arc<StatementHead>>,
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
            late_referencia: None,
            concepto: None,
            other_refs: Vec::new(),
            remittance: Vec::new(),
            status: None,
            span: 0..0,
            line: 0,
            head: None,
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
    /// Statements whose entries do not add up, or that lack a balance (see [`Warning`]).
    pub warnings: Vec<Warning>,
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
