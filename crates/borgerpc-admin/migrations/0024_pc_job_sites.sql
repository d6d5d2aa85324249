-- The jobs report's per-PC list over a long period (issue 14, report 4). It counted every job of
-- the period per PC to put the most failures first and to know how many PCs had jobs: 920,000
-- jobs for a customer's 400 days, about 400 ms on either database. Now the failures are counted
-- from the failed jobs alone (their index has the PC), and the number of PCs is read from where
-- each PC had jobs (store/reports/jobs.rs):
--
-- One row per PC, site it had jobs at (`jobs.site_id`; a PC that moved has one for each site)
-- and time the report goes by (`time_kind` as `job_days` spells it: 'created', or 'finished'
-- for the time the report came): the first and the last of those times. Both are exact: a job
-- written widens them (store/reports/ops_rollup.rs, with `job_days`), the retention counts the
-- rows of the PCs it deletes jobs of again, and a PC's or a site's rows go with it. So a PC
-- whose first or last job is in a period had jobs in it, one whose jobs all lie outside had
-- none, and only a PC with jobs before and after a period is asked its jobs.
CREATE TABLE pc_job_sites (
    pc_id BIGINT NOT NULL REFERENCES pcs (id),
    site_id BIGINT NOT NULL REFERENCES sites (id),
    time_kind TEXT NOT NULL,
    first_at BIGINT NOT NULL,
    last_at BIGINT NOT NULL,
    PRIMARY KEY (pc_id, site_id, time_kind)
);
CREATE INDEX pc_job_sites_site ON pc_job_sites (time_kind, site_id, last_at, first_at, pc_id);

-- The back-fill: every PC and site with jobs kept so far.
INSERT INTO pc_job_sites (pc_id, site_id, time_kind, first_at, last_at)
SELECT pc_id, site_id, 'created', MIN(created_at), MAX(created_at) FROM jobs
GROUP BY pc_id, site_id;
INSERT INTO pc_job_sites (pc_id, site_id, time_kind, first_at, last_at)
SELECT pc_id, site_id, 'finished', MIN(reported_at), MAX(reported_at) FROM jobs
WHERE reported_at IS NOT NULL GROUP BY pc_id, site_id;

-- The failures per PC of a period, from the failed jobs' index alone (it gains the PC), and the
-- jobs of a PC in a period by either time (a PC with jobs before and after a period is asked
-- whether it had any in it; the page's PCs have theirs counted per status).
DROP INDEX jobs_status_created;
DROP INDEX jobs_status_reported;
CREATE INDEX jobs_status_created ON jobs (status, created_at, id, site_id, pc_id);
CREATE INDEX jobs_status_reported ON jobs (status, reported_at, id, site_id, pc_id);
CREATE INDEX jobs_pc_created ON jobs (pc_id, created_at, site_id, status);
CREATE INDEX jobs_pc_reported ON jobs (pc_id, reported_at, site_id, status);

-- Row-level security as migration 9 has it for the other tables (SQLite skips this part).
-- {{POSTGRES}}
ALTER TABLE pc_job_sites ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON pc_job_sites
    USING (site_id = ANY ((SELECT tenant_sites())::BIGINT[]))
    WITH CHECK (site_id = ANY ((SELECT tenant_sites())::BIGINT[]));
