-- Only invoices the ERP told us about have an erp_id, and it is only looked up by value (`erp_id = $1`): a
-- partial index holds those alone, instead of one NULL entry for every stamped CFDI imported.
DROP INDEX invoices_erp;
CREATE INDEX invoices_erp ON invoices (erp_id) WHERE erp_id IS NOT NULL;
