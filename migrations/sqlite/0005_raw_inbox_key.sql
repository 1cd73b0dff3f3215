-- The raw inbox is looked up by external id (a CFDI's UUID, a statement's identity) instead of through a unique
-- index on (kind, external_id, sha256): that index held about 110 bytes per delivery (the 64-character hash
-- among them) in random order, and a bulk import spent much of its time reading and rewriting its pages. On
-- SQLite every write goes through one writer at a time, which finds the deliveries already stored with the same
-- external id and stores a body only when its (kind, external_id, sha256) is not among them (see
-- `src/store/bulk.rs`). PostgreSQL, where several instances write at once, keeps the unique constraint.
-- SQLite cannot drop a table's UNIQUE constraint, so the table is rebuilt (same columns, same ids).
CREATE TABLE raw_inbox_new (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    external_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    body BLOB NOT NULL,
    received_at TEXT NOT NULL,
    encoding TEXT NOT NULL DEFAULT 'identity',
    dict_id BIGINT
);
INSERT INTO raw_inbox_new (id, source, kind, external_id, sha256, body, received_at, encoding, dict_id)
SELECT id, source, kind, external_id, sha256, body, received_at, encoding, dict_id FROM raw_inbox ORDER BY id;
DROP TABLE raw_inbox;
ALTER TABLE raw_inbox_new RENAME TO raw_inbox;
CREATE INDEX raw_inbox_external ON raw_inbox (external_id);
