-- The security and jobs reports fast for every site (issue 14). The security report's time to
-- handle: the handled events per site, local date, rule and wait bucket, so the median and 90th
-- percentile of a customer's 400 days are read from sums (sites x days x rules x buckets rows)
-- instead of ranking every handled event per request. Kept by store/reports/ops_rollup.rs with
-- security_event_days (migration 17), in the transaction of each write of the events (raised,
-- handled, reopened, a PC deleted, retention; a site's delete deletes its rows): an event is
-- taken away as it was and added as it is, so reopening one takes its wait away and handling it
-- again adds the new one.
--
-- Counted: RESOLVED events with a handled time (handled_at, migration 14), at the site they
-- were raised at and the local date (Copenhagen) they happened, as security_event_days has
-- them. The wait is handled_at - occurred_at (0 if the PC's clock put it after), counted in
-- the bucket it falls in: wait_from_ms is the bucket's lower bound, the next bucket's is its
-- upper. Buckets (minutes): 0, 1, 2, 5, 10, 15, 30, 60, 2 h, 4 h, 8 h, 12 h, 1 d, 2 d, 3 d,
-- 7 d, 14 d, 30 d, 60 d, 90 d, 180 d, 365 d and more: each at most 2.5 times the one before,
-- so a median read from them is known to that precision (ops_rollup.rs, WAIT_BUCKETS, has
-- the same list; the upgrade test holds this back-fill to the store's recount).
CREATE TABLE security_handle_days (
    site_id BIGINT NOT NULL REFERENCES sites (id),
    day BIGINT NOT NULL,
    rule_kind TEXT NOT NULL,
    rule_id BIGINT NOT NULL,
    wait_from_ms BIGINT NOT NULL,
    events BIGINT NOT NULL,
    PRIMARY KEY (site_id, day, rule_kind, rule_id, wait_from_ms)
);
INSERT INTO security_handle_days (site_id, day, rule_kind, rule_id, wait_from_ms, events)
SELECT x.site_id, x.day, x.rule_kind, x.rule_id, x.wait_from_ms, COUNT(*)
FROM (SELECT w.site_id, w.rule_kind, w.rule_id, w.day,
             CASE
        WHEN w.waited < 60000 THEN 0
        WHEN w.waited < 120000 THEN 60000
        WHEN w.waited < 300000 THEN 120000
        WHEN w.waited < 600000 THEN 300000
        WHEN w.waited < 900000 THEN 600000
        WHEN w.waited < 1800000 THEN 900000
        WHEN w.waited < 3600000 THEN 1800000
        WHEN w.waited < 7200000 THEN 3600000
        WHEN w.waited < 14400000 THEN 7200000
        WHEN w.waited < 28800000 THEN 14400000
        WHEN w.waited < 43200000 THEN 28800000
        WHEN w.waited < 86400000 THEN 43200000
        WHEN w.waited < 172800000 THEN 86400000
        WHEN w.waited < 259200000 THEN 172800000
        WHEN w.waited < 604800000 THEN 259200000
        WHEN w.waited < 1209600000 THEN 604800000
        WHEN w.waited < 2592000000 THEN 1209600000
        WHEN w.waited < 5184000000 THEN 2592000000
        WHEN w.waited < 7776000000 THEN 5184000000
        WHEN w.waited < 15552000000 THEN 7776000000
        WHEN w.waited < 31536000000 THEN 15552000000
        ELSE 31536000000 END AS wait_from_ms
      FROM (SELECT e.site_id, e.rule_kind, e.rule_id,
                   CASE WHEN e.handled_at > e.occurred_at THEN e.handled_at - e.occurred_at ELSE 0 END AS waited,
                   (e.occurred_at + (SELECT z.offset_ms FROM report_zone_offsets z WHERE z.from_ms <= e.occurred_at
                                     ORDER BY z.from_ms DESC LIMIT 1)) / 86400000 AS day
            FROM security_events e
            WHERE e.status = 'RESOLVED' AND e.handled_at IS NOT NULL) w) x
GROUP BY x.site_id, x.day, x.rule_kind, x.rule_id, x.wait_from_ms;

-- The security report's per-PC list over a period of many events (more than a site's month):
-- one page of the PCs with events in the order they were registered, read from this index in
-- its order, and only that page's events counted (store/reports/security.rs).
CREATE INDEX security_events_pc_time
    ON security_events (pc_id, occurred_at, site_id, rule_kind, rule_id, status);

-- The jobs report's newest failures and slowest runs (a page of ten of every site's jobs) in the
-- lists' order, so they are read from the index's end instead of sorting a period's
-- 1,000,000 jobs per request (store/reports/jobs.rs, job_runs_page): by status and the time
-- the report goes by (made or reported), and by run time.
CREATE INDEX jobs_status_created ON jobs (status, created_at, id, site_id);
CREATE INDEX jobs_status_reported ON jobs (status, reported_at, id, site_id);
CREATE INDEX jobs_slowest ON jobs (duration_ms, id, site_id, created_at, reported_at);

-- Row-level security as migration 9 has it for the other tables (SQLite skips this part).
-- {{POSTGRES}}
ALTER TABLE security_handle_days ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON security_handle_days
    USING (site_id = ANY ((SELECT tenant_sites())::BIGINT[]))
    WITH CHECK (site_id = ANY ((SELECT tenant_sites())::BIGINT[]));
