-- An operator may resend a delivery as a new transaction (a new AnvenderTransaktionsID, rebuilt
-- with the configuration of the day, new SFTP names). `transaction_no` counts the delivery's
-- transactions (1 for the first); it goes into the SFTP names so no two transactions share one.
ALTER TABLE deliveries ADD COLUMN transaction_no BIGINT NOT NULL DEFAULT 1;

-- The transactions a delivery had before a resend, so a late receipt for one of them is known
-- (recorded in the timeline, never applied to the delivery's current transaction).
CREATE TABLE earlier_transactions (
    anvender_transaktions_id TEXT PRIMARY KEY,
    delivery_id TEXT NOT NULL REFERENCES deliveries (id),
    transaction_no BIGINT NOT NULL,
    distribution_transaktions_id TEXT,
    sync_kode TEXT,
    teknisk_kode TEXT,
    forretning_kode TEXT,
    superseded_at BIGINT NOT NULL,
    superseded_by TEXT NOT NULL
);
CREATE INDEX earlier_transactions_delivery ON earlier_transactions (delivery_id);

-- Before this version, `retry` of a delivery that had failed on a receipt left it pending at
-- step `done`, which nothing works on: it stayed "pending" for ever. Such deliveries go back to
-- the call, without the codes of the attempt that failed, as `retry` now does.
UPDATE deliveries SET step = 'afsend', sync_kode = NULL, teknisk_kode = NULL, forretning_kode = NULL,
    distribution_transaktions_id = NULL
    WHERE state = 'pending' AND step IN ('done', 'receipts')
