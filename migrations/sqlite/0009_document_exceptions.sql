-- Exceptions have an origin: 'reconcile' (the engine's, rewritten by every run) or 'documents' (raised by the
-- document links: a REP line paying more than its invoice owes, a substitute CFDI (04) whose amount differs from
-- the invoice it replaces). A run of the engine never deletes or overwrites an exception of another origin; a
-- person's `cuadra match` of the payment clears either. Kept in step with the other migration tree.
ALTER TABLE exceptions ADD COLUMN origin TEXT NOT NULL DEFAULT 'reconcile';
