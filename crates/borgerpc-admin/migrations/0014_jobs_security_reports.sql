-- Reports 4 and 5 (issue 14): jobs and security events. Both reports count rows that are
-- already there (store/reports/jobs.rs, security.rs); this adds the two times they lack and
-- the indexes that let them count a period of a site's rows from an index.

-- A job's run time in ms: `finished` minus `started`, the agent's own local time texts
-- ("2026-11-22 22:02:08.227828"), read as Copenhagen time (the PCs' zone, so a run over a
-- change of the clock is its real length). Written with the agent's report
-- (store/jobs.rs, report_job); NULL when the report has no times, when they do not read as
-- times or finish before they start, and for jobs reported before this migration (their texts
-- are kept as they were; the report's slowest jobs leave them out).
ALTER TABLE jobs ADD COLUMN duration_ms BIGINT;

-- When an operator marked the event handled (RESOLVED), from the pages or the API (both go
-- through store/operator.rs, update_event_in); cleared if it is opened again. Events
-- resolved before this migration have none, and the time to handle leaves them out.
ALTER TABLE security_events ADD COLUMN handled_at BIGINT;

-- The jobs report counts a site's jobs of a period by status, batch (script) and PC, by their
-- creation or by when they were reported: every column it reads is in the index, so 1,000,000
-- jobs are counted without reading their rows (and their logs). The old index had the same
-- first columns, so the pages that used it use this one.
DROP INDEX jobs_site_created;
CREATE INDEX jobs_site_created ON jobs (site_id, created_at, status, batch_id, pc_id, duration_ms);
CREATE INDEX jobs_site_reported ON jobs (site_id, reported_at, status, batch_id, pc_id, duration_ms);
-- One script's jobs (the report's drill-down): its versions' batches.
CREATE INDEX batches_version ON batches (script_version_id);

-- The security report counts a site's events of a period by rule, status and PC, and the
-- time to handle them, from the index (same first columns as before, for the event list).
DROP INDEX security_events_site_time;
CREATE INDEX security_events_site_time
    ON security_events (site_id, occurred_at, rule_kind, rule_id, status, pc_id, handled_at);
