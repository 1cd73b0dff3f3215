//! The store side of reconciliation: [`load`] reads what the engine needs in a few big queries, [`write`] writes
//! its decision in one transaction as it is decided, and [`manual`] records what a person matches and unmatches.
//! The run that joins them is `crate::reconcile::run`; these modules see only the engine's plain data.

mod load;
mod manual;
mod write;

pub use manual::{ManualMatch, EXCEPTION_COLUMNS};
pub use write::DecisionPart;
