-- Cuadra ledger, SQLite dialect. Keep in step with ../postgres/0001_ledger.sql: same tables, same columns.
-- Money: BIGINT micro-units (10^-6) so sums are exact in SQL. Instants: TEXT RFC 3339 UTC (sortable).
-- Civil dates: TEXT YYYY-MM-DD.

CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    customer_key TEXT NOT NULL UNIQUE,
    rfc TEXT,
    name TEXT NOT NULL,
    emails TEXT NOT NULL DEFAULT '',
    phone TEXT,
    whatsapp TEXT,
    credit_days BIGINT,
    credit_limit_micros BIGINT,
    currency TEXT,
    payment_reference TEXT,
    language TEXT,
    erp_id TEXT,
    content_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX customers_rfc ON customers (rfc);

CREATE TABLE customer_aliases (
    id INTEGER PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (kind, value, customer_id)
);
CREATE INDEX customer_aliases_value ON customer_aliases (kind, value);

CREATE TABLE raw_inbox (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    external_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    body BLOB NOT NULL,
    received_at TEXT NOT NULL,
    UNIQUE (kind, external_id, sha256)
);

CREATE TABLE conflicts (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    external_id TEXT NOT NULL,
    kept_raw_id BIGINT NOT NULL,
    conflicting_raw_id BIGINT NOT NULL,
    detail TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (kept_raw_id, conflicting_raw_id)
);

CREATE TABLE invoices (
    id INTEGER PRIMARY KEY,
    uuid TEXT UNIQUE,
    serie TEXT,
    folio TEXT,
    issuer_rfc TEXT,
    customer_rfc TEXT,
    customer_name TEXT,
    issued_at TEXT NOT NULL,
    issued_on TEXT NOT NULL,
    due_on TEXT,
    due_source TEXT,
    currency TEXT NOT NULL,
    total_micros BIGINT NOT NULL,
    subtotal_micros BIGINT,
    exchange_rate TEXT,
    payment_method TEXT,
    payment_form TEXT,
    version TEXT NOT NULL,
    erp_id TEXT,
    erp_residual_micros BIGINT,
    sat_state TEXT NOT NULL DEFAULT 'vigente',
    cancelled_at TEXT,
    superseded_by TEXT,
    replaces TEXT NOT NULL DEFAULT '[]',
    disputed BIGINT NOT NULL DEFAULT 0,
    raw_id BIGINT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX invoices_customer ON invoices (customer_rfc);
CREATE INDEX invoices_serie_folio ON invoices (folio, serie);
CREATE INDEX invoices_erp ON invoices (erp_id);

CREATE TABLE credits (
    id INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    serie TEXT,
    folio TEXT,
    issuer_rfc TEXT,
    customer_rfc TEXT,
    issued_at TEXT NOT NULL,
    currency TEXT NOT NULL,
    total_micros BIGINT NOT NULL,
    exchange_rate TEXT,
    relation_type TEXT,
    applies_to TEXT NOT NULL,
    version TEXT NOT NULL,
    sat_state TEXT NOT NULL DEFAULT 'vigente',
    cancelled_at TEXT,
    raw_id BIGINT,
    created_at TEXT NOT NULL
);

CREATE TABLE credit_applications (
    id INTEGER PRIMARY KEY,
    credit_id BIGINT NOT NULL REFERENCES credits (id),
    invoice_id BIGINT NOT NULL REFERENCES invoices (id),
    amount_micros BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (credit_id, invoice_id)
);
CREATE INDEX credit_applications_invoice ON credit_applications (invoice_id);

CREATE TABLE payments (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    external_id TEXT NOT NULL,
    own_account TEXT,
    booked_on TEXT NOT NULL,
    value_date TEXT,
    currency TEXT NOT NULL,
    amount_micros BIGINT NOT NULL,
    bank_reference TEXT,
    clave_rastreo TEXT,
    payer_name TEXT,
    payer_rfc TEXT,
    payer_account TEXT,
    referencia_numerica TEXT,
    concepto TEXT,
    document_id TEXT,
    operation_number TEXT,
    customer_hint TEXT,
    status TEXT,
    remittance TEXT NOT NULL DEFAULT '[]',
    customer_id BIGINT,
    same_as_payment_id BIGINT,
    sat_state TEXT NOT NULL DEFAULT 'vigente',
    raw_id BIGINT,
    created_at TEXT NOT NULL,
    UNIQUE (kind, external_id)
);
CREATE INDEX payments_booked ON payments (booked_on);
CREATE INDEX payments_document ON payments (document_id);

CREATE TABLE allocations (
    id INTEGER PRIMARY KEY,
    payment_id BIGINT NOT NULL REFERENCES payments (id),
    invoice_id BIGINT NOT NULL REFERENCES invoices (id),
    amount_micros BIGINT NOT NULL,
    currency TEXT NOT NULL,
    method TEXT NOT NULL,
    confidence_pct BIGINT NOT NULL,
    explanation TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    removed_at TEXT,
    removed_by TEXT
);
CREATE INDEX allocations_payment ON allocations (payment_id);
CREATE INDEX allocations_invoice ON allocations (invoice_id);

CREATE TABLE exceptions (
    payment_id BIGINT PRIMARY KEY REFERENCES payments (id),
    reason TEXT NOT NULL,
    candidates TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE sat_status (
    uuid TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    cancelled_at TEXT,
    tipo TEXT,
    updated_at TEXT NOT NULL
);

CREATE TABLE checkpoints (
    connector TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    connector TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    ordering_key TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    remote_id TEXT,
    locked_by TEXT,
    locked_until TEXT,
    created_at TEXT NOT NULL,
    delivered_at TEXT
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_order ON outbox (connector, ordering_key, id);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id);

-- Append-only: the audit log can be read and added to, never changed.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
