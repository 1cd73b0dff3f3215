-- Kept in step with ../sqlite/0005_raw_inbox_key.sql, which replaces SQLite's unique index on raw_inbox
-- (kind, external_id, sha256) by an index on external_id, its single writer checking what is already stored.
-- PostgreSQL keeps the unique constraint: several instances may write at once, and `ON CONFLICT` on it is what
-- keeps a delivery from being stored twice. No change to the schema here.
SELECT 1;
