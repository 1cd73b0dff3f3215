//! The few SQL primitives that differ between SQLite and PostgreSQL. Domain code (ingest, links, outbox, reports,
//! reconcile's loading and writing) builds its statements from these and never branches on the backend itself.
