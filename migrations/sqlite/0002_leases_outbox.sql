-- Leases: a named piece of work (a connector run, the outbox drain) is held by one instance at a time; an
-- instance that dies loses its lease when it expires and another takes the work over.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

-- Change capture for the outbox: what was already published to the sinks.
ALTER TABLE allocations ADD COLUMN published_created BIGINT NOT NULL DEFAULT 0;
ALTER TABLE allocations ADD COLUMN published_removed BIGINT NOT NULL DEFAULT 0;
CREATE TABLE invoice_snapshots (
    invoice_id BIGINT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    published_at TEXT NOT NULL
);

-- Payment receipts (REP) whose DoctoRelacionado rows still wait for their invoices; the link pass looks only at
-- these.
ALTER TABLE payments ADD COLUMN links_pending BIGINT NOT NULL DEFAULT 1;
