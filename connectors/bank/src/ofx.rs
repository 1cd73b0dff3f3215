//! OFX 1.x (SGML: leaf elements usually unclosed) and 2.x (XML) statements, read by one tolerant tokenizer
//! instead of a normalise-then-XML pass: `<TAG>value` is a leaf whether or not `</TAG>` follows, `<TAG>` followed
//! by another tag opens an aggregate, and `</TAG>` closes up to the matching open aggregate (unclosed ones are
//! closed implicitly). Comments, processing instructions and the v1 `KEY:VALUE` header are skipped; the header's
//! `CHARSET` (1252, 8859-1) or invalid UTF-8 selects Latin-1 for values.
//!
//! Bank (`STMTRS`), credit-card (`CCSTMTRS`) and investment cash (`INVSTMTRS` → `STMTTRN`) statements are read;
//! several statements, several `BANKTRANLIST` blocks and empty ones are accepted. Each `STMTTRN` becomes one
//! payment: `TRNAMT` signed as written (comma decimals accepted), `DTPOSTED` the booking date (the civil date as
//! written, time zone ignored), `DTAVAIL` the value date, `FITID` the identity, `NAME`/`PAYEE`/`EXTDNAME` the
//! payer, `BANKACCTTO/ACCTID` the payer account, `MEMO` the concepto, `REFNUM`/`CHECKNUM` references. A file whose
//! `STATUS` says `ERROR` and that carries no statement is rejected with the server's message. A file without its
//! closing `</OFX>` (cut short) is refused as a whole.

use crate::model::{err_at, LineCounter, Txn, UniqueRef};
use crate::text::{clean, clean_ref, decode_with, parse_amount, ymd_compact, DecimalSep};
use cuadra_sdk::{Currency, InputError, Money};

/// One token of the OFX body.
enum Tok<'a> {
    Open(&'a [u8], usize),
    Close(&'a [u8], usize),
    /// A leaf: name and value bytes.
    Leaf(&'a [u8], &'a [u8]),
}

/// Tokenises the body; the iterator is total (never fails): malformed pieces are skipped.
fn tokens(b: &[u8]) -> Vec<Tok<'_>> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(p) = b.get(i..).and_then(|r| r.iter().position(|c| *c == b'<')) {
        let lt = i + p;
        let rest = &b[lt..];
        if rest.starts_with(b"<!--") {
            i = find(rest, b"-->").map_or(b.len(), |e| lt + e + 3);
            continue;
        }
        if rest.starts_with(b"<?") || rest.starts_with(b"<!") {
            i = find(rest, b">").map_or(b.len(), |e| lt + e + 1);
            continue;
        }
        let Some(gt) = rest.iter().position(|c| *c == b'>') else {
            break;
        };
        let inner = &rest[1..gt];
        i = lt + gt + 1;
        if let Some(name) = inner.strip_prefix(b"/") {
            out.push(Tok::Close(trim(name), lt));
            continue;
        }
        if let Some(name) = inner.strip_suffix(b"/") {
            out.push(Tok::Leaf(trim(name), &[]));
            continue;
        }
        let name = trim(
            inner
                .split(|c| c.is_ascii_whitespace())
                .next()
                .unwrap_or(inner),
        );
        let next_lt = b[i..]
            .iter()
            .position(|c| *c == b'<')
            .map_or(b.len(), |q| i + q);
        let value = &b[i..next_lt];
        if trim(value).is_empty() {
            // `<X></X>` is an empty leaf; `<X>` followed by another tag opens an aggregate.
            let after = &b[next_lt..];
            if after.len() > 2 + name.len()
                && after.starts_with(b"</")
                && after[2..].starts_with(name)
            {
                out.push(Tok::Leaf(name, &[]));
                i = next_lt + 2 + name.len();
                i = b[i..]
                    .iter()
                    .position(|c| *c == b'>')
                    .map_or(b.len(), |q| i + q + 1);
            } else {
                out.push(Tok::Open(name, lt));
            }
            continue;
        }
        out.push(Tok::Leaf(name, trim(value)));
        i = next_lt;
        // Swallow a matching close tag right after the value (XML style).
        let after = &b[next_lt..];
        if after.starts_with(b"</") && after.get(2..2 + name.len()) == Some(name) {
            if let Some(q) = after.iter().position(|c| *c == b'>') {
                i = next_lt + q + 1;
            }
        }
    }
    out
}

fn trim(b: &[u8]) -> &[u8] {
    let s = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let e = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(s, |p| p + 1);
    &b[s..e]
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Decodes the five XML entities and numeric references; bare `&` stays.
fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find('&') {
        out.push_str(&rest[..p]);
        let tail = &rest[p..];
        let semi = tail.find(';').filter(|q| *q <= 10);
        let rep = semi.and_then(|q| match &tail[1..q] {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            n if n.starts_with("#x") => u32::from_str_radix(&n[2..], 16)
                .ok()
                .and_then(char::from_u32),
            n if n.starts_with('#') => n[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        });
        match (rep, semi) {
            (Some(c), Some(q)) => {
                out.push(c);
                rest = &tail[q + 1..];
            }
            _ => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[derive(Default)]
struct TrnFields {
    start: usize,
    dtposted: Option<String>,
    dtavail: Option<String>,
    amount: Option<String>,
    fitid: Option<String>,
    refnum: Option<String>,
    checknum: Option<String>,
    name: Option<String>,
    extdname: Option<String>,
    memo: Option<String>,
    acct_to: Option<String>,
    trntype: Option<String>,
    /// `CURRENCY/CURSYM` or `ORIGCURRENCY/CURSYM`, used when the statement has no `CURDEF`.
    cursym: Option<String>,
}

/// `name` upper-cased, in `buf` when it fits (element names are short) instead of a new allocation.
fn upper_small<'b>(name: &[u8], buf: &'b mut [u8; 32]) -> std::borrow::Cow<'b, [u8]> {
    match buf.get_mut(..name.len()) {
        Some(dst) => {
            dst.copy_from_slice(name);
            dst.make_ascii_uppercase();
            std::borrow::Cow::Borrowed(dst)
        }
        None => std::borrow::Cow::Owned(name.to_ascii_uppercase()),
    }
}

/// Parses an OFX file into transactions.
pub fn parse(bytes: &[u8]) -> Result<(Vec<Txn>, Vec<InputError>), InputError> {
    let bytes = crate::text::strip_bom(bytes);
    let ofx_at = find(bytes, b"<OFX>")
        .or_else(|| find(bytes, b"<ofx>"))
        .ok_or_else(|| {
            err_at(
                1,
                None,
                "expected an OFX document (an <OFX> element), found none",
            )
        })?;
    let header = String::from_utf8_lossy(&bytes[..ofx_at]).to_ascii_uppercase();
    let latin1_header = header.contains("CHARSET:1252") || header.contains("CHARSET:8859-1");
    let utf8 = !latin1_header && std::str::from_utf8(bytes).is_ok();
    let val = |v: &[u8]| unescape(&decode_with(v, utf8));
    let mut lines = LineCounter::new();
    let mut stack: Vec<&[u8]> = Vec::new();
    let mut txns = Vec::new();
    let mut problems = Vec::new();
    let mut statements = 0usize;
    let mut currency: Option<Currency> = None;
    let mut account: Option<String> = None;
    let mut trn: Option<TrnFields> = None;
    let mut status_error: Option<String> = None;
    let mut code: Option<String> = None;
    let toks = tokens(bytes);
    // All or nothing: a file cut short (no closing `</OFX>`) would silently lose the transactions after the cut.
    if !toks
        .iter()
        .any(|t| matches!(t, Tok::Close(n, _) | Tok::Leaf(n, []) if n.eq_ignore_ascii_case(b"OFX")))
    {
        return Err(err_at(
            lines.line_at(bytes, bytes.len()),
            Some("OFX"),
            "the file ends before </OFX>: it is truncated; nothing of it was imported",
        ));
    }
    for tok in toks {
        match tok {
            Tok::Open(name, pos) => {
                let mut ubuf = [0u8; 32];
                let upper = upper_small(name, &mut ubuf);
                match &*upper {
                    b"STMTRS" | b"CCSTMTRS" | b"INVSTMTRS" => {
                        statements += 1;
                        currency = None;
                        account = None;
                    }
                    b"STMTTRN" => {
                        trn = Some(TrnFields {
                            start: pos,
                            ..TrnFields::default()
                        })
                    }
                    _ => {}
                }
                stack.push(name);
            }
            Tok::Close(name, pos) => {
                let Some(depth) = stack.iter().rposition(|n| n.eq_ignore_ascii_case(name)) else {
                    continue;
                };
                stack.truncate(depth);
                if name.eq_ignore_ascii_case(b"STMTTRN") {
                    if let Some(f) = trn.take() {
                        let end = bytes[pos..]
                            .iter()
                            .position(|c| *c == b'>')
                            .map_or(bytes.len(), |q| pos + q + 1);
                        let line = lines.line_at(bytes, f.start);
                        match build(f, end, line, statements, currency, account.clone()) {
                            Ok(t) => txns.push(t),
                            Err(e) => problems.push(e),
                        }
                    }
                }
            }
            Tok::Leaf(name, value) => {
                let (mut ubuf, mut pbuf) = ([0u8; 32], [0u8; 32]);
                let upper = upper_small(name, &mut ubuf);
                let parent = upper_small(stack.last().copied().unwrap_or_default(), &mut pbuf);
                match (&*parent, &*upper) {
                    (b"STATUS", b"CODE") => code = Some(val(value)),
                    (b"STATUS", b"SEVERITY") if value.eq_ignore_ascii_case(b"ERROR") => {
                        status_error = Some(format!("code {}", code.clone().unwrap_or_default()))
                    }
                    (b"STATUS", b"MESSAGE") if status_error.is_some() => {
                        status_error = Some(format!(
                            "{}: {}",
                            status_error.take().unwrap_or_default(),
                            val(value)
                        ))
                    }
                    (_, b"CURDEF") => currency = Currency::parse(&val(value)).ok(),
                    (b"BANKACCTFROM" | b"CCACCTFROM" | b"INVACCTFROM", b"ACCTID") => {
                        account = clean(&val(value))
                    }
                    (b"BANKACCTTO" | b"CCACCTTO", b"ACCTID") => {
                        if let Some(f) = trn.as_mut() {
                            f.acct_to = clean(&val(value))
                        }
                    }
                    (_, field) => {
                        if let Some(f) = trn.as_mut() {
                            let v = || clean(&val(value));
                            match field {
                                b"DTPOSTED" => f.dtposted = v(),
                                b"DTAVAIL" => f.dtavail = v(),
                                b"TRNAMT" => f.amount = v(),
                                b"FITID" => f.fitid = v(),
                                b"REFNUM" => f.refnum = v(),
                                b"CHECKNUM" => f.checknum = v(),
                                b"NAME" => f.name = f.name.take().or_else(v),
                                b"EXTDNAME" => f.extdname = v(),
                                b"MEMO" => f.memo = v(),
                                b"TRNTYPE" => f.trntype = v(),
                                b"CURSYM" => f.cursym = v(),
                                _ => {}
                            }
                        }
                    }
                }
            }
        }
    }
    if statements == 0 {
        if let Some(e) = status_error {
            return Err(err_at(
                0,
                Some("STATUS"),
                format!("the OFX server reported an error ({e})"),
            ));
        }
    }
    Ok((txns, problems))
}

fn build(
    f: TrnFields,
    end: usize,
    line: u64,
    statement: usize,
    currency: Option<Currency>,
    account: Option<String>,
) -> Result<Txn, InputError> {
    let currency = currency.or_else(|| f.cursym.as_deref().and_then(|c| Currency::parse(c).ok()));
    let currency = currency.ok_or_else(|| {
        err_at(
            line,
            Some("CURDEF"),
            "expected the statement currency (CURDEF) before this STMTTRN, found none",
        )
    })?;
    let posted = f.dtposted.as_deref().ok_or_else(|| {
        err_at(
            line,
            Some("STMTTRN/DTPOSTED"),
            "expected a posting date DTPOSTED",
        )
    })?;
    let booked = ymd_compact(posted).ok_or_else(|| {
        err_at(
            line,
            Some("STMTTRN/DTPOSTED"),
            format!("expected a date YYYYMMDD[HHMMSS], found {posted:?}"),
        )
    })?;
    let raw = f
        .amount
        .as_deref()
        .ok_or_else(|| err_at(line, Some("STMTTRN/TRNAMT"), "expected an amount TRNAMT"))?;
    let amount =
        parse_amount(raw, DecimalSep::Auto).map_err(|m| err_at(line, Some("STMTTRN/TRNAMT"), m))?;
    let mut t = Txn::new(booked, Money::new(amount, currency));
    t.statement = statement.saturating_sub(1);
    t.file_account = account;
    t.value_date = f.dtavail.as_deref().and_then(ymd_compact);
    t.unique_ref = f.fitid.clone().map(UniqueRef::Fitid);
    t.bank_reference = f.fitid;
    t.payer_name = f.name.or(f.extdname);
    t.payer_account = f.acct_to;
    t.concepto = f.memo;
    t.other_refs.extend(f.refnum.as_deref().and_then(clean_ref));
    t.other_refs
        .extend(f.checknum.as_deref().and_then(clean_ref));
    t.status = f.trntype.map(|s| s.to_ascii_lowercase());
    t.span = f.start..end;
    t.line = line;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities() {
        assert_eq!(unescape("A &amp; B &lt;x&gt; &#65; & C"), "A & B <x> A & C");
    }
}
