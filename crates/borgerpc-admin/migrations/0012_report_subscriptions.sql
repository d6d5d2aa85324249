-- Scheduled report e-mails (issue 14): a user subscribes a site, or a customer (all of that
-- customer's sites the user sees when the mail is sent), to a report weekly (the previous ISO
-- week, sent Monday 06:00 Copenhagen time) or monthly (the previous month, sent on the 1st).
-- The portal's scheduler (src/report_mail.rs) works from these rows, not from memory, so a
-- send that was due while the portal was down, or that failed, is sent later.
--
-- report, cadence, language, last_error: one spelling each (store/subscriptions.rs).
-- customer_id: always set (a site's customer for a site), so row-level security has one key.
-- site_id: NULL for a customer's sites.
-- next_due: when the period now to be sent became due (UTC ms); it moves on to the next
-- period only after that period's mail was sent (or given up when the next was due).
-- next_attempt: when the scheduler may next take the row: next_due, a retry's backoff, or a
-- lease while one instance sends it (a claim is an UPDATE … WHERE next_attempt = old value,
-- so two instances on one database never both take it).
-- attempts, last_error: failed attempts at the current period, and the last problem's code
-- (never an error text: the SMTP server's answer may quote an address).
-- Deleting the user, the site or the customer deletes their subscriptions (ON DELETE CASCADE).
CREATE TABLE report_subscriptions (
    id {{SERIAL}},
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    customer_id BIGINT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    site_id BIGINT REFERENCES sites (id) ON DELETE CASCADE,
    report TEXT NOT NULL,
    cadence TEXT NOT NULL,
    language TEXT NOT NULL,
    next_due BIGINT NOT NULL,
    next_attempt BIGINT NOT NULL,
    last_sent BIGINT,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at BIGINT NOT NULL
);
-- The scheduler's round: the rows whose time has come, oldest first.
CREATE INDEX report_subscriptions_due ON report_subscriptions (next_attempt);
-- A user's list (and their bound of subscriptions); one subscription per report, scope and
-- cadence.
CREATE UNIQUE INDEX report_subscriptions_user
    ON report_subscriptions (user_id, report, cadence, customer_id, COALESCE(site_id, 0));
-- Deleting a site or a customer finds its rows.
CREATE INDEX report_subscriptions_site ON report_subscriptions (site_id);
CREATE INDEX report_subscriptions_customer ON report_subscriptions (customer_id);

-- Row-level security as migration 9 has it for the other tables (SQLite skips this part).
-- {{POSTGRES}}
ALTER TABLE report_subscriptions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON report_subscriptions
    USING (customer_id = (SELECT tenant_customer()))
    WITH CHECK (customer_id = (SELECT tenant_customer()));
