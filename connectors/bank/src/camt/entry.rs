//! One camt `Ntry` being read: element codes ([`Tag`]), the fields collected while its subtree streams past,
//! and the split into one or several [`Txn`]s when it closes.

use super::currency_attr;
pub use super::tag::Tag;
use crate::model::{err_at, Txn, UniqueRef};
use crate::text::{clean, clean_ref, iso_date, parse_amount, DecimalSep};
use cuadra_sdk::{CfdiUuid, Currency, InputError, InvoiceRef, Money, RemittanceLine, Rfc};
use quick_xml::events::BytesStart;
use rust_decimal::Decimal;

/// A party (`Dbtr`, `Cdtr`, `UltmtDbtr`) as far as matching cares.
#[derive(Debug, Default, Clone)]
struct Party {
    name: Option<String>,
    agent_name: Option<String>,
    tax_id: Option<String>,
}

/// An amount with its sign indicator, as read from one element.
#[derive(Debug, Default, Clone)]
struct AmountField {
    value: Option<String>,
    currency: Option<Currency>,
}

#[derive(Debug, Default, Clone)]
struct TxFields {
    amt: AmountField,
    tx_amt: AmountField,
    cdt_dbt: Option<String>,
    uetr: Option<String>,
    acct_svcr_ref: Option<String>,
    end_to_end: Option<String>,
    clr_sys_ref: Option<String>,
    dbtr: Party,
    cdtr: Party,
    ultmt_dbtr: Party,
    dbtr_acct: Option<String>,
    cdtr_acct: Option<String>,
    ustrd: Vec<String>,
    cdtr_refs: Vec<String>,
    doc_numbers: Vec<String>,
    addtl_tx_inf: Option<String>,
    /// `RtrInf/Rsn/Cd` (or `Prtry`): the transaction returns an earlier one, for this reason.
    return_reason: Option<String>,
}

/// The fields of one `Ntry` collected while it streams past.
#[derive(Debug)]
pub struct EntryBuilder {
    statement: usize,
    line: u64,
    pub start: usize,
    pub end: usize,
    pub account: Option<String>,
    /// Statement (else group header) creation date, for entries without BookgDt/ValDt (optional in camt.054).
    pub fallback_date: Option<String>,
    amt: AmountField,
    cdt_dbt: Option<String>,
    reversal: bool,
    status: Option<String>,
    booked: Option<String>,
    value: Option<String>,
    acct_svcr_ref: Option<String>,
    ntry_ref: Option<String>,
    addtl: Option<String>,
    txs: Vec<TxFields>,
    pending_ccy: Option<Currency>,
}

impl EntryBuilder {
    pub fn new(statement: usize, line: u64) -> Self {
        EntryBuilder {
            statement,
            line,
            start: 0,
            end: 0,
            account: None,
            fallback_date: None,
            amt: AmountField::default(),
            cdt_dbt: None,
            reversal: false,
            status: None,
            booked: None,
            value: None,
            acct_svcr_ref: None,
            ntry_ref: None,
            addtl: None,
            txs: Vec::new(),
            pending_ccy: None,
        }
    }

    /// Called after `stack` got the opening element `e`.
    pub fn start_tag(&mut self, stack: &[Tag], e: &BytesStart<'_>) {
        match stack.last() {
            Some(Tag::TxDtls) => self.txs.push(TxFields::default()),
            Some(Tag::Amt) => self.pending_ccy = currency_attr(e),
            _ => {}
        }
    }

    /// Called with the element about to close (still on `stack`) and its text.
    pub fn end_tag(&mut self, stack: &[Tag], text: &str) {
        let Some(pos) = stack.iter().rposition(|t| *t == Tag::Ntry) else {
            return;
        };
        let rel = stack.get(pos..).unwrap_or(&[]);
        let tx_pos = rel.iter().position(|t| *t == Tag::TxDtls);
        match tx_pos {
            None => self.entry_field(rel, text),
            Some(p) => {
                let rel_tx = rel.get(p..).unwrap_or(&[]);
                let ccy = self.pending_ccy;
                if let Some(tx) = self.txs.last_mut() {
                    tx_field(tx, rel_tx, text, ccy);
                }
            }
        }
    }

    fn entry_field(&mut self, rel: &[Tag], text: &str) {
        use Tag::*;
        match rel {
            [Ntry, Amt] => {
                self.amt = AmountField {
                    value: Some(text.trim().to_string()),
                    currency: self.pending_ccy,
                }
            }
            [Ntry, CdtDbtInd] => self.cdt_dbt = Some(text.trim().to_string()),
            [Ntry, RvslInd] => self.reversal = text.trim().eq_ignore_ascii_case("true"),
            [Ntry, Sts] if !text.trim().is_empty() => self.status = Some(text.trim().to_string()),
            [Ntry, Sts, Cd | Prtry] => self.status = Some(text.trim().to_string()),
            [Ntry, BookgDt, Dt | DtTm] => self.booked = Some(text.trim().to_string()),
            [Ntry, ValDt, Dt | DtTm] => self.value = Some(text.trim().to_string()),
            [Ntry, AcctSvcrRef] => self.acct_svcr_ref = clean(text),
            [Ntry, NtryRef] => self.ntry_ref = clean(text),
            [Ntry, AddtlNtryInf] => self.addtl = clean(text),
            _ => {}
        }
    }

    /// Turns the entry into one transaction, or one per `TxDtls` for a batch with per-transaction amounts,
    /// appended to `out` (nothing is appended on error).
    pub fn finish(self, out: &mut Vec<Txn>) -> Result<(), InputError> {
        let line = self.line;
        let currency = self.amt.currency.ok_or_else(|| {
            err_at(
                line,
                Some("Ntry/Amt/@Ccy"),
                "expected a currency attribute Ccy on the entry amount",
            )
        })?;
        let raw_amt = self
            .amt
            .value
            .as_deref()
            .ok_or_else(|| err_at(line, Some("Ntry/Amt"), "expected an entry amount"))?;
        let amount = parse_amount(raw_amt, DecimalSep::Point)
            .map_err(|m| err_at(line, Some("Ntry/Amt"), m))?;
        let credit = sign_of(self.cdt_dbt.as_deref(), line, "Ntry/CdtDbtInd")?;
        let booked_raw = self
            .booked
            .as_deref()
            .or(self.value.as_deref())
            .or(self.fallback_date.as_deref())
            .ok_or_else(|| {
                err_at(
                    line,
                    Some("Ntry/BookgDt"),
                    "expected a booking date (BookgDt/Dt or BookgDt/DtTm)",
                )
            })?;
        let booked_on = iso_date(booked_raw).ok_or_else(|| {
            err_at(
                line,
                Some("Ntry/BookgDt"),
                format!("expected a date YYYY-MM-DD, found {booked_raw:?}"),
            )
        })?;
        let value_date = self.value.as_deref().and_then(iso_date);
        let status = if self.reversal {
            Some("reversal".to_string())
        } else {
            self.status
                .as_deref()
                .map(|s| match s.to_ascii_uppercase().as_str() {
                    "BOOK" => "booked".to_string(),
                    "PDNG" => "pending".to_string(),
                    "INFO" => "info".to_string(),
                    other => other.to_ascii_lowercase(),
                })
        };
        let signed = |d: Decimal, credit: bool| if credit { d } else { -d };
        let split = self.split_amounts(amount, currency, credit, line)?;
        let base = |amount: Money| {
            let mut t = Txn::new(booked_on, amount);
            t.statement = self.statement;
            t.file_account = self.account.clone();
            t.value_date = value_date;
            t.status = status.clone();
            t.span = self.start..self.end;
            t.line = line;
            t.bank_reference = self.acct_svcr_ref.clone().or(self.ntry_ref.clone());
            t
        };
        match split {
            Some(parts) => {
                for (i, (tx, m)) in self.txs.iter().zip(parts).enumerate() {
                    let mut t = base(m);
                    let own_ref = fill_from_tx(&mut t, tx, m.amount() > Decimal::ZERO);
                    if !own_ref {
                        t.unique_ref = self.acct_svcr_ref.clone().map(UniqueRef::AcctSvcrRef);
                        t.part = Some(i);
                    }
                    t.concepto = t.concepto.or(self.addtl.clone());
                    out.push(t);
                }
            }
            None => {
                let mut t = base(Money::new(signed(amount, credit), currency));
                let mut own_ref = false;
                if let Some(tx) = self.txs.first() {
                    own_ref = fill_from_tx(&mut t, tx, credit);
                }
                // Later TxDtls of a non-split entry still carry remittance text.
                for tx in self.txs.iter().skip(1) {
                    let extra = tx.ustrd.join(" ");
                    if let Some(x) = clean(&extra) {
                        t.concepto = Some(match t.concepto.take() {
                            Some(c) => format!("{c} {x}"),
                            None => x,
                        });
                    }
                }
                if !own_ref {
                    t.unique_ref = self.acct_svcr_ref.clone().map(UniqueRef::AcctSvcrRef);
                }
                t.concepto = t.concepto.or(self.addtl.clone());
                out.push(t);
            }
        }
        Ok(())
    }

    /// Per-`TxDtls` signed amounts when the entry is a batch whose parts carry amounts that add up.
    fn split_amounts(
        &self,
        total: Decimal,
        currency: Currency,
        credit: bool,
        line: u64,
    ) -> Result<Option<Vec<Money>>, InputError> {
        if self.txs.len() < 2 {
            return Ok(None);
        }
        let mut parts = Vec::with_capacity(self.txs.len());
        let mut sum = Decimal::ZERO;
        for tx in &self.txs {
            let f = if tx.amt.value.is_some() {
                &tx.amt
            } else {
                &tx.tx_amt
            };
            let (Some(v), Some(c)) = (f.value.as_deref(), f.currency) else {
                return Ok(None);
            };
            if c != currency {
                return Ok(None);
            }
            let d = parse_amount(v, DecimalSep::Point)
                .map_err(|m| err_at(line, Some("TxDtls/Amt"), m))?;
            let tx_credit = match tx.cdt_dbt.as_deref() {
                Some(s) => sign_of(Some(s), line, "TxDtls/CdtDbtInd")?,
                None => credit,
            };
            let s = if tx_credit { d } else { -d };
            sum += if credit { s } else { -s };
            parts.push(Money::new(s, currency));
        }
        Ok((sum == total).then_some(parts))
    }
}

fn sign_of(ind: Option<&str>, line: u64, field: &str) -> Result<bool, InputError> {
    match ind.map(str::trim) {
        Some("CRDT") => Ok(true),
        Some("DBIT") => Ok(false),
        other => Err(err_at(
            line,
            Some(field),
            format!("expected CRDT or DBIT, found {:?}", other.unwrap_or("")),
        )),
    }
}

/// Copies one `TxDtls` into `t`; returns whether it had a unique reference of its own.
fn fill_from_tx(t: &mut Txn, tx: &TxFields, credit: bool) -> bool {
    let (party, acct) = if credit {
        (&tx.dbtr, &tx.dbtr_acct)
    } else {
        (&tx.cdtr, &tx.cdtr_acct)
    };
    t.payer_name = party
        .name
        .clone()
        .or_else(|| credit.then(|| tx.ultmt_dbtr.name.clone()).flatten())
        .or_else(|| party.agent_name.clone());
    t.payer_rfc = party
        .tax_id
        .as_deref()
        .and_then(|s| Rfc::parse(s).ok())
        .map(|r| r.as_str().to_string());
    t.payer_account = acct.clone();
    t.clave_rastreo = tx.clr_sys_ref.clone();
    if let Some(r) = &tx.acct_svcr_ref {
        t.bank_reference = Some(r.clone());
    }
    t.concepto = clean(&tx.ustrd.join(" ")).or(tx.addtl_tx_inf.clone());
    if let Some(reason) = &tx.return_reason {
        // A return (bank.md: `RtrInf/Rsn/Cd`); the reason stays readable in the concepto.
        t.status = Some("reversal".into());
        let text = t.concepto.take().unwrap_or_default();
        t.concepto = clean(&format!("{text} RTRN {reason}"));
    }
    t.other_refs = tx
        .end_to_end
        .iter()
        .chain(tx.cdtr_refs.iter())
        .chain(tx.doc_numbers.iter())
        .cloned()
        .collect();
    t.late_referencia = tx
        .cdtr_refs
        .iter()
        .find_map(|r| crate::mx::referencia_in_field(r));
    t.remittance = tx
        .doc_numbers
        .iter()
        .map(|n| RemittanceLine {
            invoice: match CfdiUuid::parse(n) {
                Ok(u) => InvoiceRef::Uuid(u),
                Err(_) => InvoiceRef::SerieFolio {
                    serie: None,
                    folio: n.clone(),
                },
            },
            amount: None,
            equivalence: None,
            installment: None,
            balance_before: None,
            balance_after: None,
        })
        .collect();
    if let Some(u) = &tx.uetr {
        t.unique_ref = Some(UniqueRef::Uetr(u.clone()));
        true
    } else if let Some(r) = &tx.acct_svcr_ref {
        t.unique_ref = Some(UniqueRef::AcctSvcrRef(r.clone()));
        true
    } else {
        false
    }
}

/// Stores one closing element inside `TxDtls` (`rel` starts at `TxDtls`).
fn tx_field(tx: &mut TxFields, rel: &[Tag], text: &str, ccy: Option<Currency>) {
    use Tag::*;
    match rel {
        [TxDtls, Amt] => {
            tx.amt = AmountField {
                value: Some(text.trim().to_string()),
                currency: ccy,
            }
        }
        [TxDtls, AmtDtls, TxAmt, Amt] => {
            tx.tx_amt = AmountField {
                value: Some(text.trim().to_string()),
                currency: ccy,
            }
        }
        [TxDtls, CdtDbtInd] => tx.cdt_dbt = Some(text.trim().to_string()),
        [TxDtls, Refs, Uetr] => tx.uetr = clean(text),
        [TxDtls, Refs, AcctSvcrRef] => tx.acct_svcr_ref = clean(text),
        [TxDtls, Refs, EndToEndId] => tx.end_to_end = clean_ref(text),
        [TxDtls, Refs, ClrSysRef] => tx.clr_sys_ref = clean_ref(text),
        [TxDtls, RltdPties, DbtrAcct, Id, Iban] | [TxDtls, RltdPties, DbtrAcct, Id, Othr, Id] => {
            tx.dbtr_acct = tx.dbtr_acct.take().or(clean(text))
        }
        [TxDtls, RltdPties, CdtrAcct, Id, Iban] | [TxDtls, RltdPties, CdtrAcct, Id, Othr, Id] => {
            tx.cdtr_acct = tx.cdtr_acct.take().or(clean(text))
        }
        [TxDtls, RmtInf, Ustrd] => {
            if let Some(s) = clean(text) {
                tx.ustrd.push(s)
            }
        }
        [TxDtls, RmtInf, Strd, CdtrRefInf, Ref] => tx.cdtr_refs.extend(clean_ref(text)),
        [TxDtls, RmtInf, Strd, RfrdDocInf, Nb] => tx.doc_numbers.extend(clean_ref(text)),
        [TxDtls, AddtlTxInf] => tx.addtl_tx_inf = clean(text),
        [TxDtls, RtrInf, Rsn, Cd | Prtry] => tx.return_reason = clean(text),
        [TxDtls, RltdPties, who, rest @ ..] => {
            let party = match who {
                Dbtr => &mut tx.dbtr,
                Cdtr => &mut tx.cdtr,
                UltmtDbtr => &mut tx.ultmt_dbtr,
                _ => return,
            };
            let rest = rest.strip_prefix(&[Pty]).unwrap_or(rest);
            match rest {
                [Nm] => party.name = clean(text),
                [Agt, FinInstnId, Nm] => party.agent_name = clean(text),
                [Id, OrgId | PrvtId, Othr, Id] => {
                    party.tax_id = party.tax_id.take().or(clean(text));
                }
                _ => {}
            }
        }
        _ => {}
    }
}
