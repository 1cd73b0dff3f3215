//! Reconciliation's plain data: what the engine reads ([`Input`]), how it is tuned ([`Options`]), what it
//! decides ([`Decision`]) and what a run reports ([`Summary`]). The store loads the first and writes the third;
//! it lives below both so that neither imports the other (`reconcile::run` is the one place that sees both).

use chrono::NaiveDate;
use cuadra_sdk::RemittanceLine;
use std::collections::HashSet;

/// Generic RFCs many customers share: never identify a customer.
pub(crate) const GENERIC_RFCS: &[&str] = &["XAXX010101000", "XEXX010101000"];

/// An invoice that may still receive money.
#[derive(Debug, Clone)]
pub struct InvoiceIn {
    pub id: i64,
    pub uuid: Option<String>,
    pub serie: Option<String>,
    pub folio: Option<String>,
    pub erp_id: Option<String>,
    pub customer_rfc: Option<String>,
    pub currency: String,
    pub issued_on: NaiveDate,
    /// Total − credit notes − active allocations, in micro-units.
    pub open: i64,
    /// (serie, folio) of the invoices this one replaces (sustitución 04): a text citing them names this one.
    pub replaces: Vec<(Option<String>, String)>,
}

#[derive(Debug, Clone)]
pub struct CustomerIn {
    pub id: i64,
    pub rfc: Option<String>,
    pub name: String,
    pub payment_reference: Option<String>,
    pub erp_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct AliasIn {
    pub customer_id: i64,
    /// `account`, `reference`, `rfc` or `name`.
    pub kind: String,
    pub value: String,
    pub source: String,
}

#[derive(Debug, Clone)]
pub struct PaymentIn {
    pub id: i64,
    /// `bank`, `spei`, `rep`, `provider`, `erp`.
    pub kind: String,
    pub external_id: String,
    pub booked_on: NaiveDate,
    pub currency: String,
    pub amount: i64,
    /// Active allocations on this payment.
    pub allocated: i64,
    /// Some active allocation was made by a person (`cuadra match`) rather than by the engine or a document.
    pub manual: bool,
    pub same_as: Option<i64>,
    pub payer_name: Option<String>,
    pub payer_rfc: Option<String>,
    pub payer_account: Option<String>,
    pub referencia: Option<String>,
    pub clave_rastreo: Option<String>,
    pub bank_reference: Option<String>,
    pub concepto: Option<String>,
    pub operation_number: Option<String>,
    pub customer_hint: Option<String>,
    pub remittance: Vec<RemittanceLine>,
    /// The customer the payment is recorded against now.
    pub customer_id: Option<i64>,
    /// The source's status (`reversal`, `refunded`, `dispute_funds_withdrawn`, ...): which movements undo others.
    pub status: Option<String>,
    /// A provider's charge/payment id (what its refunds name), a REP's UUID.
    pub document_id: Option<String>,
}

/// A reversal already linked: `reversal_payment_id` undoes `amount` micro-units of the credit `payment_id` (a
/// negative amount gives money back, a chargeback reinstated).
#[derive(Debug, Clone)]
pub struct ReversalIn {
    pub reversal_payment_id: i64,
    pub payment_id: i64,
    pub amount: i64,
}

/// A live invoice with nothing left to pay that a payment paid: what a second payment citing it is checked
/// against (a probable duplicate).
#[derive(Debug, Clone)]
pub struct PaidIn {
    pub id: i64,
    pub uuid: Option<String>,
    pub serie: Option<String>,
    pub folio: Option<String>,
    pub customer_rfc: Option<String>,
    pub currency: String,
    /// What its allocations paid, in micro-units.
    pub paid: i64,
    /// The first payment (lowest id) with a live allocation to it.
    pub paid_by: i64,
}

#[derive(Debug, Clone, Default)]
pub struct Input {
    pub invoices: Vec<InvoiceIn>,
    pub customers: Vec<CustomerIn>,
    pub aliases: Vec<AliasIn>,
    pub payments: Vec<PaymentIn>,
    /// (RFC, receptor name as written on its invoices) for customers that may be missing from the master.
    pub invoice_names: Vec<(String, String)>,
    /// (payment, invoice) pairs a person removed: never proposed again by the engine.
    pub rejected: HashSet<(i64, i64)>,
    /// Reversals linked by earlier runs.
    pub reversals: Vec<ReversalIn>,
    /// Invoices fully paid (for duplicate payments).
    pub paid: Vec<PaidIn>,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Largest shortfall accepted as a bank fee, in micro-units (0 = off).
    pub tolerance: i64,
    /// Days between a bank credit and the REP or provider record of the same payment.
    pub same_money_days: i64,
    /// The company's own accounts (normalized): credits from them are own transfers.
    pub own_accounts: Vec<String>,
    /// Days before an invoice's issue date in which an identified customer's payment of exactly its balance is
    /// taken as a prepayment of it, when it is that customer's only such invoice (`reconcile.prepayment_days`).
    pub prepayment_days: i64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tolerance: 0,
            same_money_days: 5,
            own_accounts: vec![],
            prepayment_days: 30,
        }
    }
}

/// One allocation the engine decided.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NewAllocation {
    pub payment_id: i64,
    pub invoice_id: i64,
    pub amount: i64,
    pub currency: String,
    pub method: &'static str,
    pub confidence: u8,
    pub explanation: String,
}

/// A bank credit recognised as the same money as another record.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SameMoney {
    pub payment_id: i64,
    pub same_as: i64,
    pub explanation: String,
}

/// A return, refund or chargeback linked to the credit it undoes.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Reversal {
    pub reversal_payment_id: i64,
    pub payment_id: i64,
    /// Micro-units undone (negative: given back, a chargeback reinstated).
    pub amount: i64,
    /// The credit's live allocations are removed (what is left of it no longer covers them); it is decided again
    /// with what is left.
    pub remove_allocations: bool,
    pub explanation: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ExceptionOut {
    pub payment_id: i64,
    pub reason: String,
    pub candidates: serde_json::Value,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Decision {
    pub allocations: Vec<NewAllocation>,
    pub links: Vec<SameMoney>,
    /// Payments whose payer was identified as another customer than the one recorded: (payment, customer id in
    /// the master).
    pub customers: Vec<(i64, i64)>,
    /// Returns and reversals linked in this run (final before the allocation passes, like `links`).
    pub reversals: Vec<Reversal>,
    pub exceptions: Vec<ExceptionOut>,
}

/// What a run did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    pub invoices_open: usize,
    pub payments_examined: usize,
    pub allocations: usize,
    pub payments_allocated: usize,
    pub same_money_links: usize,
    pub allocations_replaced: usize,
    pub reversals: usize,
    /// Allocations removed because their payment was returned.
    pub allocations_returned: usize,
    pub exceptions: usize,
    pub by_method: std::collections::BTreeMap<String, usize>,
    pub dry_run: bool,
    pub load_ms: u128,
    pub decide_ms: u128,
    pub write_ms: u128,
}

impl Summary {
    pub fn line(&self) -> String {
        let methods: Vec<String> = self
            .by_method
            .iter()
            .map(|(m, n)| format!("{m} {n}"))
            .collect();
        let returns = if self.reversals > 0 {
            format!(
                "; {} returns linked ({} allocations of returned payments removed)",
                self.reversals, self.allocations_returned
            )
        } else {
            String::new()
        };
        format!(
            "reconcile{}: {} payments examined against {} open invoices; {} allocations on {} payments ({}); {} same-money links ({} earlier allocations replaced){returns}; {} exceptions ({} ms)",
            if self.dry_run { " (dry run, nothing written)" } else { "" },
            self.payments_examined,
            self.invoices_open,
            self.allocations,
            self.payments_allocated,
            if methods.is_empty() { "none".to_string() } else { methods.join(", ") },
            self.same_money_links,
            self.allocations_replaced,
            self.exceptions,
            self.load_ms + self.decide_ms + self.write_ms
        )
    }
}
