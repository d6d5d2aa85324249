-- Reports (issue 14): where each PC reported login days, and when it last had a login there,
-- so the usage report finds its PCs and their idle ones without reading a row per PC per day
-- (40,000,000 rows for 100,000 PCs over 400 days). One row per PC and site it has days at
-- (`pc_login_days.site_id`; a PC that moved has one for each site):
--
-- first_day: no day of the PC at the site is earlier (the retention deletes days without
-- raising it, so it narrows a search and never answers one alone).
-- last_day: the latest day of the PC at the site.
-- last_active: the latest of those days with a login (logins > 0); NULL when none.
--
-- Written by store/history.rs in the transaction that writes the PC's `pc_login_days`
-- (recounted from the PC's rows, at most the retention's 400 days), deleted with the PC or
-- the site; the retention deletes rows whose days it deleted and clears a `last_active` it
-- deleted. So `last_day` and `last_active` are exact, and store/reports/mod.rs decides from
-- `last_active` whether a PC had a login in a period ending after it, and asks the days
-- only for a period that ends before a PC's latest login.
CREATE TABLE pc_login_sites (
    pc_id BIGINT NOT NULL REFERENCES pcs (id),
    site_id BIGINT NOT NULL REFERENCES sites (id),
    first_day BIGINT NOT NULL,
    last_day BIGINT NOT NULL,
    last_active BIGINT,
    PRIMARY KEY (pc_id, site_id)
);
CREATE INDEX pc_login_sites_site ON pc_login_sites (site_id, last_active, pc_id);

-- The back-fill: every PC and site with days kept so far.
INSERT INTO pc_login_sites (pc_id, site_id, first_day, last_day, last_active)
SELECT pc_id, site_id, MIN(day), MAX(day), MAX(CASE WHEN logins > 0 THEN day END)
FROM pc_login_days GROUP BY pc_id, site_id;

-- Row-level security as migration 9 has it for the other tables (SQLite skips this part).
-- {{POSTGRES}}
ALTER TABLE pc_login_sites ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON pc_login_sites
    USING (site_id = ANY ((SELECT tenant_sites())::BIGINT[]))
    WITH CHECK (site_id = ANY ((SELECT tenant_sites())::BIGINT[]));
