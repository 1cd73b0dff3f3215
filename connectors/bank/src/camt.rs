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

mod entry;
mod tag;

use crate::model::{err_at, LineCounter, Txn};
use cuadra_sdk::{Currency, InputError};
use entry::{EntryBuilder, Tag};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

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
    loop {
        pos_before = reader.buffer_position() as usize;
        let ev = match reader.read_event() {
            Ok(ev) => ev,
            Err(e) => {
                let line = lines.line_at(bytes, reader.error_position() as usize);
                return Err(err_at(line, None, format!("not well-formed XML: {e}")));
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
                if entry.is_some() || in_account(&stack) || stack.last() == Some(&Tag::CreDtTm) =>
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
            Event::Eof => break,
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
