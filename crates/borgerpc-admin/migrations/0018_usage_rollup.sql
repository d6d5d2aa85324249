-- Reports (issue 14): the usage roll-up, one row per site per local date, kept as PCs push
-- their `login_counts`, so the usage report's figures per site, per date, per weekday and in
-- total add up sites x days rows instead of one row per PC per day (3,000,000 for 100,000
-- PCs over 30 days). What it sums are `pc_login_days` rows, with their keys: the site the
-- day was first reported at (a moved PC's earlier days stay where they were) and the PC's
-- local date (days since 1970-01-01, as `pc_login_days.day`).
--
-- logins: the rows' logins summed. pcs: how many rows (PCs that reported the day, with 0
-- logins too): the report lists a site's day when a PC reported it, so a row whose pcs fell
-- to 0 (its PCs deleted) is no day of the report.
--
-- Written by store/history.rs in the transaction that writes `pc_login_days`, by the change
-- only (a day re-pushed with 3 more logins adds 3, the same count again adds nothing), and
-- taken away as rows are deleted (a PC, a site: store/pcs.rs, store/tenants.rs); retention
-- deletes the days it deletes from `pc_login_days`. A group has no roll-up (its members
-- change): its figures are read from the rows.
CREATE TABLE site_login_days (
    site_id BIGINT NOT NULL REFERENCES sites (id),
    day BIGINT NOT NULL,
    logins BIGINT NOT NULL,
    pcs BIGINT NOT NULL,
    PRIMARY KEY (site_id, day)
);

-- The back-fill: every day kept so far, at the site it was reported at.
INSERT INTO site_login_days (site_id, day, logins, pcs)
SELECT site_id, day, SUM(logins), COUNT(*) FROM pc_login_days GROUP BY site_id, day;

-- Row-level security as migration 9 has it for the other tables (SQLite skips this part).
-- {{POSTGRES}}
ALTER TABLE site_login_days ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON site_login_days
    USING (site_id = ANY ((SELECT tenant_sites())::BIGINT[]))
    WITH CHECK (site_id = ANY ((SELECT tenant_sites())::BIGINT[]));
