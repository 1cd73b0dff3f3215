//! The reconciliation engine: decides which invoices each payment pays, from the strongest evidence to the weakest,
//! and leaves everything it cannot decide with enough confidence as an exception with ranked candidates.
//!
//! The engine itself ([`decide`]) is pure: it works on in-memory [`Input`] loaded by the store in a few big
//! queries and returns a [`Decision`] the store writes in one transaction; [`run`] joins the three (load → decide
//! → write, in one direction). Inputs are sorted by content (dates,
//! external ids, UUIDs), never by database id, so the result does not depend on the order data arrived in; a
//! payment that already has allocations is decided and is not looked at again, so re-running changes nothing.
//!
//! Passes (see docs/reconcile.md):
//! 1. authoritative links: remittance lines of provider/ERP payments and REP lines naming serie/folio;
//! 2. the same money seen twice: a bank credit and a REP, provider or SPEI record of one payment are linked
//!    (`same_as_payment_id`) and the bank credit allocates nothing itself;
//! 3. who paid: known account, referencia numérica, RFC, learned aliases, tolerant name;
//! 4. what was paid: references in the concepto (checked against the amount), exact amount, an exact combination,
//!    a partial payment only when the text names the invoice;
//! 5. currency: a payment applies only to invoices in its currency.
//!
//! # Layout
//! - `run`: the run (lease, load ∥ identify payers, decide, streaming write): the one file that sees the store.
//! - `decide`: the driver; the plain data it reads and decides is [`crate::model::reconcile`], below the store.
//! - `returns`: returns, refunds and chargebacks linked to the credits they undo (before every pass).
//! - `index`: the invoices' look-ups; `payers` and `names`: who paid; `same_money`: pass 2.
//! - `context`: the passes' shared state; `passes/`: remittance, references, amounts, combinations, candidates.
//! - [`text`]: normalizing names, references and folios; `folio_lists`: compact folio lists (`1217-1219`,
//!   `1471/72`); `evidence`: referencias numéricas in a concepto and the legal form of a payer name.

mod context;
mod decide;
mod evidence;
mod folio_lists;
mod index;
mod names;
mod passes;
mod payers;
mod returns;
mod run;
mod same_money;
pub mod text;

pub use crate::model::reconcile::{
    AliasIn, CustomerIn, Decision, ExceptionOut, Input, InvoiceIn, NewAllocation, Options, PaidIn,
    PaymentIn, Reversal, ReversalIn, SameMoney, Summary,
};
pub use decide::{decide, decide_early};
pub use payers::Customers;
pub use run::run;
