//! Whether a statement continues the previous one of its account ([`continues`]), and the warnings a statement's
//! header gives ([`check`]); the rules are in the parent module's documentation.

use crate::model::{StatementHead, Warning, WarningKind};
use rust_decimal::Decimal;

/// Whether statement `next` continues `prev` (same account and currency checked by the caller): see the module
/// documentation.
pub fn continues(prev: &StatementHead, next: &StatementHead) -> bool {
    let (Some(closing), Some(opening)) = (prev.closing, next.opening) else {
        return false;
    };
    if closing.amount != opening.amount
        || prev.difference() != Some(Decimal::ZERO)
        || next.difference() != Some(Decimal::ZERO)
    {
        return false;
    }
    if let (Some(c), Some(o)) = (closing.date, opening.date) {
        if o < c {
            return false;
        }
    }
    if let (Some(a), Some(b)) = (prev.sequence, next.sequence) {
        if b < a {
            return false;
        }
    }
    // The same statement sent again (possible only when its entries net to zero).
    let resent = next.opening == prev.opening
        && (next.closing == prev.closing
            || (next.reference.is_some() && next.reference == prev.reference));
    !resent
}

/// The warnings a statement's header gives: a missing balance, or entries that do not add up.
pub(super) fn check(h: &StatementHead) -> Option<Warning> {
    let which = || match &h.reference {
        Some(r) => format!("statement {} ({r})", h.index + 1),
        None => format!("statement {}", h.index + 1),
    };
    if h.expects_balances && (h.closing.is_none() || h.opening.is_none()) {
        let (what, field) = if h.closing.is_none() {
            ("closing", h.closing_field)
        } else {
            ("opening", h.opening_field)
        };
        return Some(Warning::new(
            WarningKind::MissingBalance,
            h.line,
            Some(field),
            format!(
                "{} has no {what} balance ({field}); its entries cannot be checked against it (is the file \
                 complete?)",
                which()
            ),
        ));
    }
    let d = h.difference()?;
    if d.is_zero() {
        return None;
    }
    let (o, s, c) = (
        h.opening.map(|b| b.amount).unwrap_or_default(),
        h.entries_sum.unwrap_or_default(),
        h.closing.map(|b| b.amount).unwrap_or_default(),
    );
    let ccy = h
        .currency
        .map(|c| c.as_str().to_string())
        .unwrap_or_default();
    Some(Warning::new(
        WarningKind::BalanceMismatch,
        h.line,
        Some(h.closing_field),
        format!(
            "{}: the entries do not add up to the closing balance: opening {o} + entries {s} = {} {ccy}, but \
             the closing balance ({}) is {c} {ccy} (difference {}); entries are missing, doubled or wrong",
            which(),
            o + s,
            h.closing_field,
            -d
        ),
    ))
}
