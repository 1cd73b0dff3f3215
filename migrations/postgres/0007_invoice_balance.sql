-- The open-balance rule, written once: an invoice's total less what vigente credit notes applied to it and what
-- live (not removed) allocations paid. Amounts are BIGINT micro-units; the sums are cast back to BIGINT so that
-- both backends return exact integers. Read per invoice (`WHERE invoice_id = ..` or joined on the invoice's id):
-- each sum is one look-up in `credit_applications_invoice` and `allocations_invoice`.
-- Kept in step with the other migration tree (same view, same columns).
CREATE VIEW invoice_balance AS
SELECT b.invoice_id,
       b.currency,
       b.total_micros,
       b.credited_micros,
       b.paid_micros,
       b.total_micros - b.credited_micros - b.paid_micros AS balance_micros
FROM (
    SELECT i.id AS invoice_id,
           i.currency,
           i.total_micros,
           CAST(COALESCE((SELECT SUM(ca.amount_micros) FROM credit_applications ca
                          JOIN credits cr ON cr.id = ca.credit_id
                          WHERE ca.invoice_id = i.id AND cr.sat_state = 'vigente'), 0) AS BIGINT) AS credited_micros,
           CAST(COALESCE((SELECT SUM(a.amount_micros) FROM allocations a
                          WHERE a.invoice_id = i.id AND a.removed_at IS NULL), 0) AS BIGINT) AS paid_micros
    FROM invoices i
) b;
