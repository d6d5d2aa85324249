-- Reports (issue 14): logins per PC per day, typed, as the PC's own `login_counts`
-- configuration entry reports them ("YYYY-MM-DD: n, ..."; a core script pushes the last 90
-- days, for the days the PC was on). Parsed when the PC pushes the entry (store/history.rs),
-- so a report reads rows and never the text again.
--
-- day: the PC's local date, as days since 1970-01-01 (the script counts by the PC's clock).
-- site_id: the PC's site when the day was first reported, kept on later reports of the same
-- day, so a PC moved to another site leaves its earlier days with the old site. Retention is
-- the check-in history's (`[retention] checkin_days`).
CREATE TABLE pc_login_days (
    pc_id BIGINT NOT NULL REFERENCES pcs (id),
    day BIGINT NOT NULL,
    site_id BIGINT NOT NULL REFERENCES sites (id),
    logins BIGINT NOT NULL,
    PRIMARY KEY (pc_id, day)
);
-- Reports read by site and period.
CREATE INDEX pc_login_days_site ON pc_login_days (site_id, day);

-- Row-level security as migration 9 has it for the other tables (SQLite skips this part).
-- {{POSTGRES}}
ALTER TABLE pc_login_days ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON pc_login_days
    USING (site_id = ANY ((SELECT tenant_sites())::BIGINT[]))
    WITH CHECK (site_id = ANY ((SELECT tenant_sites())::BIGINT[]));
