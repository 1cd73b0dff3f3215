-- Returns and reversals: a debit (a returned SPEI, a camt RvslInd entry, an MT940 RC mark, a DEVOLUCION row) or a
-- provider refund / chargeback, linked by reconcile to the credit it undoes. A credit's usable amount is its amount
-- less its reversals; the reversal's own payment row (negative) is never matched. Kept in step with the other tree.
CREATE TABLE reversals (
    id INTEGER PRIMARY KEY,
    reversal_payment_id BIGINT NOT NULL UNIQUE REFERENCES payments (id),
    payment_id BIGINT NOT NULL REFERENCES payments (id),
    amount_micros BIGINT NOT NULL,
    explanation TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX reversals_payment ON reversals (payment_id);
