-- The Fordeler's schema: the contract between the stages (intake, outbox, deliver, receipts).
-- Portable SQL for SQLite and PostgreSQL; times are Unix milliseconds; {{BLOB}} and {{SERIAL}}
-- are replaced per dialect by service-kit.

-- One row per accepted submission. `payload` is the submission as received (JSON) and is
-- deleted (payload_purged_at set) after delivery + retention; the row stays.
CREATE TABLE submissions (
    id TEXT PRIMARY KEY,
    tenant_cvr TEXT NOT NULL,
    webform_id TEXT NOT NULL,
    submission_uuid TEXT NOT NULL,
    serial TEXT,
    source TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    payload {{BLOB}},
    payload_purged_at BIGINT,
    UNIQUE (webform_id, submission_uuid)
);

-- Files that came with a submission (uploads, the receipt PDF), keyed by element.
CREATE TABLE attachments (
    id TEXT PRIMARY KEY,
    submission_id TEXT NOT NULL REFERENCES submissions (id),
    element_key TEXT NOT NULL,
    idx BIGINT NOT NULL,
    name TEXT NOT NULL,
    mime TEXT NOT NULL,
    size BIGINT NOT NULL,
    data {{BLOB}},
    UNIQUE (submission_id, element_key, idx)
);

-- One row per (submission, route): the unit of delivery, with its state machine.
-- anvender_transaktions_id is chosen once, before any external call, and never changes.
CREATE TABLE deliveries (
    id TEXT PRIMARY KEY,
    submission_id TEXT NOT NULL REFERENCES submissions (id),
    route_id TEXT NOT NULL,
    tenant_cvr TEXT NOT NULL,
    webform_id TEXT NOT NULL,
    distribution_type TEXT NOT NULL,
    state TEXT NOT NULL,
    step TEXT NOT NULL,
    anvender_transaktions_id TEXT NOT NULL UNIQUE,
    distribution_transaktions_id TEXT,
    request {{BLOB}},
    sync_kode TEXT,
    teknisk_kode TEXT,
    forretning_kode TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    last_error TEXT,
    error_class TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    delivered_at BIGINT,
    resolved_by TEXT,
    resolved_note TEXT,
    UNIQUE (submission_id, route_id)
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_form_state ON deliveries (webform_id, state);

-- Files of a delivery on the SFTP service: fixed remote names, one trigger and receipt each.
CREATE TABLE delivery_files (
    delivery_id TEXT NOT NULL REFERENCES deliveries (id),
    attachment_id TEXT NOT NULL REFERENCES attachments (id),
    remote_name TEXT NOT NULL,
    state TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    receipt_error TEXT,
    PRIMARY KEY (delivery_id, attachment_id)
);

-- The timeline of a delivery: every attempt, answer, receipt and operator action.
CREATE TABLE events (
    id {{SERIAL}},
    delivery_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX events_delivery ON events (delivery_id, id);

-- Every asynchronous receipt received, also for unknown ids and duplicates.
CREATE TABLE receipts (
    id {{SERIAL}},
    delivery_id TEXT,
    anvender_transaktions_id TEXT NOT NULL,
    distribution_transaktions_id TEXT,
    kvitteringstype TEXT NOT NULL,
    kode TEXT NOT NULL,
    begrundelse TEXT,
    received_at BIGINT NOT NULL,
    duplicate BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX receipts_transaction ON receipts (anvender_transaktions_id)
