-- The open-balance rule, written once: an invoice's total less what vigente credit notes applied to it and what
-- live (not removed) allocations paid. Amounts are BIGINT micro-units; the sums are cast back to BIGINT so that
-- both backends return exact integers. Kept in step with the other migration tree (same view, same columns).
--
-- The sums are grouped over the whole credit and allocation tables and joined to the invoices: read the view in
-- one statement (the reports read every invoice with a credit or a payment at once), not once per range of
-- invoices, which would group both tables again for every range. See docs/storage.md.
CREATE VIEW invoice_balance AS
SELECT i.id AS invoice_id,
       i.currency,
       i.total_micros,
       COALESCE(c.credited_micros, 0) AS credited_micros,
       COALESCE(p.paid_micros, 0) AS paid_micros,
       i.total_micros - COALESCE(c.credited_micros, 0) - COALESCE(p.paid_micros, 0) AS balance_micros
FROM invoices i
LEFT JOIN (
    SELECT ca.invoice_id, CAST(SUM(ca.amount_micros) AS BIGINT) AS credited_micros
    FROM credit_applications ca JOIN credits cr ON cr.id = ca.credit_id
    WHERE cr.sat_state = 'vigente'
    GROUP BY ca.invoice_id
) c ON c.invoice_id = i.id
LEFT JOIN (
    SELECT a.invoice_id, CAST(SUM(a.amount_micros) AS BIGINT) AS paid_micros
    FROM allocations a
    WHERE a.removed_at IS NULL
    GROUP BY a.invoice_id
) p ON p.invoice_id = i.id;
