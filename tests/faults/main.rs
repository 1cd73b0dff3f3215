//! The fault-injection harness (docs/faults.md): the real `cuadra` binary is killed with SIGKILL at random points
//! during import, SAT sync (against the fake SAT), reconcile and outbox delivery, started again until the work is
//! done, and the ledger (a canonical dump, ids excluded) and the delivered events are compared with a clean,
//! uninterrupted run of the same work: nothing lost, nothing doubled. On SQLite and PostgreSQL.
//!
//! `CUADRA_FAULT_ITERATIONS` (default 3) iterations per phase and backend; `CUADRA_FAULT_SEED` (default: the
//! clock) chooses the kill points and the generated data, and is printed so that a failure can be replayed.

mod dump;
mod fiel;
mod import;
mod outbox;
mod reconcile;
mod sat;
mod support;
