//! ISO 20022 camt.052 / camt.053 / camt.054 (001.02 to 001.14), read with a streaming `quick-xml` pull parser.
//!
//! * The message kind and version come from the namespace **URI** declared on the root (`urn:iso:std:iso:20022:
//!   tech:xsd:camt.05N.001.VV`, or the legacy `ISO:camt.05N...`), whatever prefix it is bound to; elements are
//!   then matched by local name, so 001.02 to 001.14 are one grammar with version-dependent shapes (bank.md §4.2):
//!   `Sts` as text or `Sts/Cd`, `Dbtr/Nm` or `Dbtr/Pty/Nm`, `TxDtls/Amt` or `TxDtls/AmtDtls/TxAmt/Amt`,
//!   `BookgDt/Dt` or `BookgDt/DtTm` (the civil date as written is kept).
//! * One payment per `Ntry`; an entry whose `NtryDtls` carry several `TxDtls` that all have amounts summing to
//!   the entry amount (a batch) becomes one payment per `TxDtls` (`part` = its index).
//! * Credits are positive. For a credit the payer is `Dbtr` (else `UltmtDbtr`, else the debtor agent's name) and
//!   its account `DbtrAcct`; for a debit the counterparty is `Cdtr`/`CdtrAcct`.
//! * The booking date is `BookgDt`, else `ValDt`, else the statement's (or group header's) `CreDtTm`: camt.054
//!   notifications may omit both dates.
//! * `Sts` maps to `status` `booked` / `pending` / `info`; `RvslInd=true` gives `reversal`. Nothing is dropped:
//!   the daemon decides what a pending entry means.
//! * Assumption (no public Mexican camt sample exists): a CLABE sits in `DbtrAcct/Id/Othr/Id` and the SPEI
//!   clave de rastreo in `Refs/ClrSysRef`; an RFC in `Dbtr/Id/*/Othr/Id` is taken only when it has the RFC shape.
//!
//! The raw bytes of each payment are its whole `<Ntry>` element.
//!
//! A file is read whole or refused: XML that is not well-formed, or that ends before its elements are closed
//! (a truncated download), is an error with line and column and nothing of it is delivered. Each statement's
//! balances (`Bal`: opening `OPBD`, else `PRCD`, else the first of two `ITBD`; closing `CLBD`, else the last
//! `ITBD`), `Id` and sequence numbers go into its [`StatementHead`], with the sum of its booked entries.

mod entry;
mod tag;

use crate::model::{err_at, Balance, LineCounter, StatementHead, Txn};
use cuadra_sdk::{Currency, InputError, Location};
use entry::{EntryBuilder, Tag};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use rust_decimal::Decimal;
use std::sync::Arc;

/// Which camt message a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CamtKind {
    /// camt.052 account report (intraday).
    Report,
    /// camt.053 statement.
    Statement,
    /// camt.054 debit/credit notification.
    Notification,
}

/// The message kind and version (`053`, `08`) named by a namespace URI.
pub fn kind_from_namespace(uri: &str) -> Option<(CamtKind, String)> {
    let rest = uri
        .strip_prefix("urn:iso:std:iso:20022:tech:xsd:camt.")
        .or_else(|| uri.strip_prefix("ISO:camt."))?;
    let kind = match rest.get(..3)? {
        "052" => CamtKind::Report,
        "053" => CamtKind::Statement,
        "054" => CamtKind::Notification,
        _ => return None,
    };
    let version = rest.get(8..).unwrap_or("").to_string();
    Some((kind, version))
}

/// The namespace URI of the root element's camt declaration, if any.
fn camt_namespace(e: &BytesStart<'_>) -> Option<String> {
    e.attributes().flatten().find_map(|a| {
        let key = a.key.as_ref();
        if key == b"xmlns" || key.starts_with(b"xmlns:") {
            let v = String::from_utf8_lossy(&a.value).into_owned();
            kind_from_namespace(&v).map(|_| v)
        } else {
            None
        }
    })
}

/// Parses a camt.052/053/054 document into transactions. A document that is not well-formed, not camt, or
/// has no statement is an error for the whole file; an entry without an amount or date is reported in
/// `problems` and skipped.
pub fn parse(bytes: &[u8]) -> Result<(Vec<Txn>, Vec<InputError>, CamtKind), InputError> {
    let mut reader = Reader::from_reader(bytes);
    reader.config_mut().trim_text(false);
    let mut lines = LineCounter::new();
    let mut stack: Vec<Tag> = Vec::with_capacity(32);
    let mut kind: Option<CamtKind> = None;
    let mut statements = 0usize;
    let mut account: Option<String> = None;
    let mut header_date: Option<String> = None;
    let mut statement_date: Option<String> = None;
    // A camt entry takes well over 512 bytes; reserving up front avoids moving the transactions while growing.
    let mut txns = Vec::with_capacity(bytes.len() / 512);
    let mut problems = Vec::new();
    let mut entry: Option<EntryBuilder> = None;
    let mut text = String::new();
    let mut pos_before;
    let mut saw_message_root = false;
    let mut head = HeadBuilder::default();
    loop {
        pos_before = reader.buffer_position() as usize;
        let ev = match reader.read_event() {
            Ok(ev) => ev,
            Err(e) => {
                return Err(at_position(
                    bytes,
                    reader.error_position() as usize,
                    format!("not well-formed XML: {e}"),
                ));
            }
        };
        match ev {
            Event::Start(e) => {
                let tag = Tag::of(e.local_name().as_ref());
                if stack.is_empty() {
                    let ns = camt_namespace(&e).ok_or_else(|| {
                        err_at(
                            1,
                            Some("Document/@xmlns"),
                            "expected a camt.052, camt.053 or camt.054 namespace \
                             (urn:iso:std:iso:20022:tech:xsd:camt.05N.001.VV)",
                        )
                    })?;
                    kind = kind_from_namespace(&ns).map(|k| k.0);
                }
                text.clear();
                match tag {
                    Tag::BkToCstmrStmt | Tag::BkToCstmrAcctRpt | Tag::BkToCstmrDbtCdtNtfctn => {
                        saw_message_root = true
                    }
                    Tag::Stmt | Tag::Rpt | Tag::Ntfctn if stack.len() == 2 => {
                        statements += 1;
                        account = None;
                        statement_date = None;
                        head = HeadBuilder {
                            line: lines.line_at(bytes, pos_before),
                            first_txn: txns.len(),
                            ..HeadBuilder::default()
                        };
                    }
                    Tag::Amt if stack.len() == 4 && stack.get(3) == Some(&Tag::Bal) => {
                        head.bal_ccy = currency_attr(&e);
                    }
                    Tag::Ntry => {
                        let line = lines.line_at(bytes, pos_before);
                        let mut b = EntryBuilder::new(statements.saturating_sub(1), line);
                        b.start = pos_before;
                        b.account = account.clone();
                        b.fallback_date = statement_date.clone().or(header_date.clone());
                        entry = Some(b);
                    }
                    _ => {}
                }
                stack.push(tag);
                if let Some(b) = entry.as_mut() {
                    b.start_tag(&stack, &e);
                }
            }
            Event::Empty(e) => {
                let tag = Tag::of(e.local_name().as_ref());
                stack.push(tag);
                if let Some(b) = entry.as_mut() {
                    b.start_tag(&stack, &e);
                    b.end_tag(&stack, "");
                }
                stack.pop();
            }
            Event::Text(t)
                if entry.is_some()
                    || in_account(&stack)
                    || stack.last() == Some(&Tag::CreDtTm)
                    || in_head(&stack) =>
            {
                match t.unescape() {
                    Ok(s) => text.push_str(&s),
                    Err(_) => text.push_str(&String::from_utf8_lossy(&t)),
                }
            }
            Event::CData(t) => text.push_str(&String::from_utf8_lossy(&t)),
            Event::End(_) => {
                if in_account(&stack) {
                    if let Some(v) = account_value(&stack, &text) {
                        account = Some(v);
                    }
                }
                let closing = stack.last().copied();
                if closing == Some(Tag::CreDtTm) && stack.len() == 4 {
                    match stack.get(2) {
                        Some(Tag::GrpHdr) => header_date = crate::text::clean(&text),
                        Some(Tag::Stmt | Tag::Rpt | Tag::Ntfctn) => {
                            statement_date = crate::text::clean(&text)
                        }
                        _ => {}
                    }
                }
                if entry.is_none() && in_head(&stack) {
                    head.field(&stack, &text);
                }
                if stack.len() == 3 && matches!(closing, Some(Tag::Stmt | Tag::Rpt | Tag::Ntfctn)) {
                    let index = statements.saturating_sub(1);
                    head.finish(index, account.clone(), kind, &mut txns);
                }
                if let Some(b) = entry.as_mut() {
                    b.end_tag(&stack, &text);
                }
                if closing == Some(Tag::Ntry) {
                    if let Some(mut b) = entry.take() {
                        b.end = reader.buffer_position() as usize;
                        if let Err(e) = b.finish(&mut txns) {
                            problems.push(e);
                        }
                    }
                }
                text.clear();
                stack.pop();
            }
            Event::Eof => {
                if !stack.is_empty() {
                    return Err(at_position(
                        bytes,
                        bytes.len(),
                        format!(
                            "the XML ends with {} element(s) still open: the file is truncated or not \
                             well-formed; nothing of it was imported",
                            stack.len()
                        ),
                    ));
                }
                break;
            }
            _ => {}
        }
    }
    let kind = kind.ok_or_else(|| {
        err_at(
            1,
            None,
            "expected an XML camt document, found no root element",
        )
    })?;
    if !saw_message_root || statements == 0 {
        let what = match kind {
            CamtKind::Statement => "<BkToCstmrStmt> with at least one <Stmt>",
            CamtKind::Report => "<BkToCstmrAcctRpt> with at least one <Rpt>",
            CamtKind::Notification => "<BkToCstmrDbtCdtNtfctn> with at least one <Ntfctn>",
        };
        return Err(err_at(0, Some("Document"), format!("expected {what}")));
    }
    Ok((txns, problems, kind))
}

/// An error at byte `pos` of `bytes`, with its 1-based line and column (in characters).
fn at_position(bytes: &[u8], pos: usize, message: String) -> InputError {
    let pos = pos.min(bytes.len());
    let before = &bytes[..pos];
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let line = before.iter().filter(|b| **b == b'\n').count() as u64 + 1;
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count() as u64
        + 1;
    InputError::new(
        Location {
            line: Some(line),
            column: Some(column),
            ..Location::default()
        },
        message,
    )
}

/// Inside `Stmt|Rpt|Ntfctn` at the statement's own level: `Id`, sequence numbers and `Bal`.
fn in_head(stack: &[Tag]) -> bool {
    stack.len() >= 4
        && matches!(stack.get(2), Some(Tag::Stmt | Tag::Rpt | Tag::Ntfctn))
        && matches!(
            stack.get(3),
            Some(Tag::Id | Tag::ElctrncSeqNb | Tag::LglSeqNb | Tag::Bal)
        )
}

/// What one statement says about itself, collected while it streams past.
#[derive(Default)]
struct HeadBuilder {
    line: u64,
    /// Index in the transactions of the statement's first one.
    first_txn: usize,
    id: Option<String>,
    seq: Option<String>,
    /// `ElctrncSeqNb`, else `LglSeqNb`, as a number.
    number: Option<u64>,
    /// Balances by type code, in order.
    balances: Vec<(String, Balance, Option<Currency>)>,
    // The `Bal` being read.
    bal_code: Option<String>,
    bal_amount: Option<String>,
    bal_ccy: Option<Currency>,
    bal_credit: bool,
    bal_date: Option<String>,
}

impl HeadBuilder {
    /// An element closing inside the statement's head (`stack` still holds it).
    fn field(&mut self, stack: &[Tag], text: &str) {
        use Tag::*;
        match stack.get(3..).unwrap_or(&[]) {
            [Id] => self.id = crate::text::clean(text),
            [ElctrncSeqNb] | [LglSeqNb] => {
                let electronic = stack.get(3) == Some(&ElctrncSeqNb);
                if let Ok(n) = text.trim().parse::<u64>() {
                    if electronic || self.number.is_none() {
                        self.number = Some(n);
                    }
                }
                if let Some(n) = crate::text::clean(text) {
                    self.seq = Some(match self.seq.take() {
                        Some(s) => format!("{s}/{n}"),
                        None => n,
                    });
                }
            }
            [Bal, Tp, CdOrPrtry, Cd | Prtry] => self.bal_code = crate::text::clean(text),
            [Bal, Amt] => self.bal_amount = crate::text::clean(text),
            [Bal, CdtDbtInd] => self.bal_credit = text.trim() != "DBIT",
            [Bal, Dt, Dt | DtTm] => self.bal_date = crate::text::clean(text),
            [Bal] => {
                let amount = self.bal_amount.take().and_then(|a| {
                    crate::text::parse_amount(&a, crate::text::DecimalSep::Point).ok()
                });
                if let (Some(code), Some(a)) = (self.bal_code.take(), amount) {
                    let date = self.bal_date.take().and_then(|d| crate::text::iso_date(&d));
                    let amount = if self.bal_credit { a } else { -a };
                    self.balances.push((
                        code.to_ascii_uppercase(),
                        Balance { amount, date },
                        self.bal_ccy,
                    ));
                }
                self.bal_ccy = None;
                self.bal_credit = false;
                self.bal_date = None;
            }
            _ => {}
        }
    }

    /// The statement closed: its head, given to each of its transactions.
    fn finish(
        &mut self,
        index: usize,
        account: Option<String>,
        kind: Option<CamtKind>,
        txns: &mut [Txn],
    ) {
        let find = |code: &str| self.balances.iter().find(|b| b.0 == code);
        let interim: Vec<_> = self.balances.iter().filter(|b| b.0 == "ITBD").collect();
        let opening = find("OPBD")
            .or_else(|| find("PRCD"))
            .or_else(|| (interim.len() >= 2).then(|| interim[0]));
        let closing = find("CLBD").or_else(|| {
            interim
                .last()
                .copied()
                .filter(|c| opening.is_some_and(|o| !std::ptr::eq(o, *c)))
        });
        let currency = closing.or(opening).and_then(|b| b.2);
        let mine = txns.get_mut(self.first_txn..).unwrap_or_default();
        let mut sum = Some(Decimal::ZERO);
        for t in mine.iter() {
            let booked = matches!(t.status.as_deref(), None | Some("booked" | "reversal"));
            if !booked {
                continue;
            }
            if currency.is_some_and(|c| c != t.amount.currency()) {
                sum = None;
            }
            sum = sum.and_then(|s| s.checked_add(t.amount.amount()));
        }
        let reference = match (&self.id, &self.seq) {
            (Some(i), Some(s)) => Some(format!("Id {i} No {s}")),
            (Some(i), None) => Some(format!("Id {i}")),
            (None, Some(s)) => Some(format!("No {s}")),
            (None, None) => None,
        };
        let head = Arc::new(StatementHead {
            index,
            line: self.line,
            account,
            currency,
            reference,
            sequence: self.number.map(|n| (n, 0)),
            opening: opening.map(|b| b.1),
            closing: closing.map(|b| b.1),
            entries_sum: sum,
            first_booked: mine.iter().map(|t| t.booked_on).min(),
            expects_balances: kind == Some(CamtKind::Statement),
            opening_field: "Bal/OPBD",
            closing_field: "Bal/CLBD",
        });
        for t in mine {
            t.head = Some(Arc::clone(&head));
        }
    }
}

/// Inside `Stmt|Rpt|Ntfctn/Acct` (the statement's own account), outside any entry.
fn in_account(stack: &[Tag]) -> bool {
    stack.len() >= 4
        && matches!(stack.get(2), Some(Tag::Stmt | Tag::Rpt | Tag::Ntfctn))
        && stack.get(3) == Some(&Tag::Acct)
}

/// `Acct/Id/IBAN` or `Acct/Id/Othr/Id` (the account number) from the closing element's path.
fn account_value(stack: &[Tag], text: &str) -> Option<String> {
    let tail = stack.get(4..)?;
    match tail {
        [Tag::Id, Tag::Iban] | [Tag::Id, Tag::Othr, Tag::Id] => crate::text::clean(text),
        _ => None,
    }
}

/// Parses a currency attribute value, `None` if it is not a three-letter code.
pub(crate) fn currency_attr(e: &BytesStart<'_>) -> Option<Currency> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == b"Ccy")
        .and_then(|a| Currency::parse(&String::from_utf8_lossy(&a.value)).ok())
}
