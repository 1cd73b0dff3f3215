//! The allocation passes, each a method of the shared [`Ctx`](super::context::Ctx) in a file of its own: remittance
//! lines (pass 1), references the amount confirms (4a), double payments (`duplicates`), amounts and combinations
//! of the payer's invoices (4b), and the ranked candidates of what is left as an exception.

mod amounts;
mod candidates;
mod combinations;
mod duplicates;
mod references;
mod remittance;
