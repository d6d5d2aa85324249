-- Reports 4 to 6 (issue 14): daily roll-ups of the jobs, the security events and the audit log,
-- so a report of every site over 400 days adds up sites x days x keys rows instead of counting
-- 1,000,000 jobs per request. Kept by store/reports/ops_rollup.rs in the transaction of every
-- write of their rows (made, reported, restarted, handled, reopened, deleted): the rows a write
-- touches are taken away as they were and added as they are, so a repeat adds nothing and every
-- row is counted exactly once. What cannot be summed (the PCs' lists, the time to handle, the
-- PCs activated, the PCs a run reached, the pages of rows) is still read from the rows, from
-- indexes; a group has no roll-up (its members change), so its reports read the rows too.
--
-- Days are local dates (Copenhagen), the reports' periods: days since 1970-01-01 of the local
-- time, `(at + offset) / 86400000`, with the offset from report_zone_offsets.

-- Copenhagen's UTC offset from each change of the clock on (1970 to 2099, from the zone's
-- rules; a test holds it to the time zone the reports use). The SQL side of a local date:
-- the offset of an instant is that of the latest change at or before it.
CREATE TABLE report_zone_offsets (
    from_ms BIGINT PRIMARY KEY,
    offset_ms BIGINT NOT NULL
);
INSERT INTO report_zone_offsets (from_ms, offset_ms) VALUES
    (-62167219200000, 3600000), (323830800000, 7200000), (338950800000, 3600000),
    (354675600000, 7200000), (370400400000, 3600000), (386125200000, 7200000),
    (401850000000, 3600000), (417574800000, 7200000), (433299600000, 3600000),
    (449024400000, 7200000), (465354000000, 3600000), (481078800000, 7200000),
    (496803600000, 3600000), (512528400000, 7200000), (528253200000, 3600000),
    (543978000000, 7200000), (559702800000, 3600000), (575427600000, 7200000),
    (591152400000, 3600000), (606877200000, 7200000), (622602000000, 3600000),
    (638326800000, 7200000), (654656400000, 3600000), (670381200000, 7200000),
    (686106000000, 3600000), (701830800000, 7200000), (717555600000, 3600000),
    (733280400000, 7200000), (749005200000, 3600000), (764730000000, 7200000),
    (780454800000, 3600000), (796179600000, 7200000), (811904400000, 3600000),
    (828234000000, 7200000), (846378000000, 3600000), (859683600000, 7200000),
    (877827600000, 3600000), (891133200000, 7200000), (909277200000, 3600000),
    (922582800000, 7200000), (941331600000, 3600000), (954032400000, 7200000),
    (972781200000, 3600000), (985482000000, 7200000), (1004230800000, 3600000),
    (1017536400000, 7200000), (1035680400000, 3600000), (1048986000000, 7200000),
    (1067130000000, 3600000), (1080435600000, 7200000), (1099184400000, 3600000),
    (1111885200000, 7200000), (1130634000000, 3600000), (1143334800000, 7200000),
    (1162083600000, 3600000), (1174784400000, 7200000), (1193533200000, 3600000),
    (1206838800000, 7200000), (1224982800000, 3600000), (1238288400000, 7200000),
    (1256432400000, 3600000), (1269738000000, 7200000), (1288486800000, 3600000),
    (1301187600000, 7200000), (1319936400000, 3600000), (1332637200000, 7200000),
    (1351386000000, 3600000), (1364691600000, 7200000), (1382835600000, 3600000),
    (1396141200000, 7200000), (1414285200000, 3600000), (1427590800000, 7200000),
    (1445734800000, 3600000), (1459040400000, 7200000), (1477789200000, 3600000),
    (1490490000000, 7200000), (1509238800000, 3600000), (1521939600000, 7200000),
    (1540688400000, 3600000), (1553994000000, 7200000), (1572138000000, 3600000),
    (1585443600000, 7200000), (1603587600000, 3600000), (1616893200000, 7200000),
    (1635642000000, 3600000), (1648342800000, 7200000), (1667091600000, 3600000),
    (1679792400000, 7200000), (1698541200000, 3600000), (1711846800000, 7200000),
    (1729990800000, 3600000), (1743296400000, 7200000), (1761440400000, 3600000),
    (1774746000000, 7200000), (1792890000000, 3600000), (1806195600000, 7200000),
    (1824944400000, 3600000), (1837645200000, 7200000), (1856394000000, 3600000),
    (1869094800000, 7200000), (1887843600000, 3600000), (1901149200000, 7200000),
    (1919293200000, 3600000), (1932598800000, 7200000), (1950742800000, 3600000),
    (1964048400000, 7200000), (1982797200000, 3600000), (1995498000000, 7200000),
    (2014246800000, 3600000), (2026947600000, 7200000), (2045696400000, 3600000),
    (2058397200000, 7200000), (2077146000000, 3600000), (2090451600000, 7200000),
    (2108595600000, 3600000), (2121901200000, 7200000), (2140045200000, 3600000),
    (2153350800000, 7200000), (2172099600000, 3600000), (2184800400000, 7200000),
    (2203549200000, 3600000), (2216250000000, 7200000), (2234998800000, 3600000),
    (2248304400000, 7200000), (2266448400000, 3600000), (2279754000000, 7200000),
    (2297898000000, 3600000), (2311203600000, 7200000), (2329347600000, 3600000),
    (2342653200000, 7200000), (2361402000000, 3600000), (2374102800000, 7200000),
    (2392851600000, 3600000), (2405552400000, 7200000), (2424301200000, 3600000),
    (2437606800000, 7200000), (2455750800000, 3600000), (2469056400000, 7200000),
    (2487200400000, 3600000), (2500506000000, 7200000), (2519254800000, 3600000),
    (2531955600000, 7200000), (2550704400000, 3600000), (2563405200000, 7200000),
    (2582154000000, 3600000), (2595459600000, 7200000), (2613603600000, 3600000),
    (2626909200000, 7200000), (2645053200000, 3600000), (2658358800000, 7200000),
    (2676502800000, 3600000), (2689808400000, 7200000), (2708557200000, 3600000),
    (2721258000000, 7200000), (2740006800000, 3600000), (2752707600000, 7200000),
    (2771456400000, 3600000), (2784762000000, 7200000), (2802906000000, 3600000),
    (2816211600000, 7200000), (2834355600000, 3600000), (2847661200000, 7200000),
    (2866410000000, 3600000), (2879110800000, 7200000), (2897859600000, 3600000),
    (2910560400000, 7200000), (2929309200000, 3600000), (2942010000000, 7200000),
    (2960758800000, 3600000), (2974064400000, 7200000), (2992208400000, 3600000),
    (3005514000000, 7200000), (3023658000000, 3600000), (3036963600000, 7200000),
    (3055712400000, 3600000), (3068413200000, 7200000), (3087162000000, 3600000),
    (3099862800000, 7200000), (3118611600000, 3600000), (3131917200000, 7200000),
    (3150061200000, 3600000), (3163366800000, 7200000), (3181510800000, 3600000),
    (3194816400000, 7200000), (3212960400000, 3600000), (3226266000000, 7200000),
    (3245014800000, 3600000), (3257715600000, 7200000), (3276464400000, 3600000),
    (3289165200000, 7200000), (3307914000000, 3600000), (3321219600000, 7200000),
    (3339363600000, 3600000), (3352669200000, 7200000), (3370813200000, 3600000),
    (3384118800000, 7200000), (3402867600000, 3600000), (3415568400000, 7200000),
    (3434317200000, 3600000), (3447018000000, 7200000), (3465766800000, 3600000),
    (3479072400000, 7200000), (3497216400000, 3600000), (3510522000000, 7200000),
    (3528666000000, 3600000), (3541971600000, 7200000), (3560115600000, 3600000),
    (3573421200000, 7200000), (3592170000000, 3600000), (3604870800000, 7200000),
    (3623619600000, 3600000), (3636320400000, 7200000), (3655069200000, 3600000),
    (3668374800000, 7200000), (3686518800000, 3600000), (3699824400000, 7200000),
    (3717968400000, 3600000), (3731274000000, 7200000), (3750022800000, 3600000),
    (3762723600000, 7200000), (3781472400000, 3600000), (3794173200000, 7200000),
    (3812922000000, 3600000), (3825622800000, 7200000), (3844371600000, 3600000),
    (3857677200000, 7200000), (3875821200000, 3600000), (3889126800000, 7200000),
    (3907270800000, 3600000), (3920576400000, 7200000), (3939325200000, 3600000),
    (3952026000000, 7200000), (3970774800000, 3600000), (3983475600000, 7200000),
    (4002224400000, 3600000), (4015530000000, 7200000), (4033674000000, 3600000),
    (4046979600000, 7200000), (4065123600000, 3600000), (4078429200000, 7200000),
    (4096573200000, 3600000);

-- Jobs per site, local date, script and status, twice: by the date they were made
-- (time_kind 'created') and by the date their report came ('finished'; a job not reported is
-- in none). timed: those with a run time (duration_ms), the slowest list's length. A job counts
-- at the site it ran at (jobs.site_id) and for its batch's script.
CREATE TABLE job_days (
    time_kind TEXT NOT NULL,
    site_id BIGINT NOT NULL REFERENCES sites (id),
    day BIGINT NOT NULL,
    script_id BIGINT NOT NULL,
    status TEXT NOT NULL,
    jobs BIGINT NOT NULL,
    timed BIGINT NOT NULL,
    PRIMARY KEY (time_kind, site_id, day, script_id, status)
);
INSERT INTO job_days (time_kind, site_id, day, script_id, status, jobs, timed)
SELECT x.time_kind, x.site_id, x.day, x.script_id, x.status, COUNT(*), SUM(x.timed)
FROM (SELECT 'created' AS time_kind, j.site_id, v.script_id, j.status,
             CASE WHEN j.duration_ms IS NULL THEN 0 ELSE 1 END AS timed,
             (j.created_at + (SELECT z.offset_ms FROM report_zone_offsets z WHERE z.from_ms <= j.created_at
                              ORDER BY z.from_ms DESC LIMIT 1)) / 86400000 AS day
      FROM jobs j JOIN batches b ON b.id = j.batch_id JOIN script_versions v ON v.id = b.script_version_id
      UNION ALL
      SELECT 'finished', j.site_id, v.script_id, j.status,
             CASE WHEN j.duration_ms IS NULL THEN 0 ELSE 1 END,
             (j.reported_at + (SELECT z.offset_ms FROM report_zone_offsets z WHERE z.from_ms <= j.reported_at
                               ORDER BY z.from_ms DESC LIMIT 1)) / 86400000
      FROM jobs j JOIN batches b ON b.id = j.batch_id JOIN script_versions v ON v.id = b.script_version_id
      WHERE j.reported_at IS NOT NULL) x
GROUP BY x.time_kind, x.site_id, x.day, x.script_id, x.status;

-- Security events per site (raised at), local date (occurred_at), rule and status. The level
-- is the rule's now, joined when read, as the report had it.
CREATE TABLE security_event_days (
    site_id BIGINT NOT NULL REFERENCES sites (id),
    day BIGINT NOT NULL,
    rule_kind TEXT NOT NULL,
    rule_id BIGINT NOT NULL,
    status TEXT NOT NULL,
    events BIGINT NOT NULL,
    PRIMARY KEY (site_id, day, rule_kind, rule_id, status)
);
INSERT INTO security_event_days (site_id, day, rule_kind, rule_id, status, events)
SELECT x.site_id, x.day, x.rule_kind, x.rule_id, x.status, COUNT(*)
FROM (SELECT e.site_id, e.rule_kind, e.rule_id, e.status,
             (e.occurred_at + (SELECT z.offset_ms FROM report_zone_offsets z WHERE z.from_ms <= e.occurred_at
                               ORDER BY z.from_ms DESC LIMIT 1)) / 86400000 AS day
      FROM security_events e) x
GROUP BY x.site_id, x.day, x.rule_kind, x.rule_id, x.status;

-- Audit records per site, local date, action and actor: records, and settings (those with a
-- value before and after, `detail`). site_id 0: a record without a site (portal-wide). No
-- reference to sites: a deleted site's records stay, and so do their counts.
CREATE TABLE audit_days (
    site_id BIGINT NOT NULL,
    day BIGINT NOT NULL,
    action TEXT NOT NULL,
    actor TEXT NOT NULL,
    records BIGINT NOT NULL,
    settings BIGINT NOT NULL,
    PRIMARY KEY (site_id, day, action, actor)
);
-- The portal-wide view reads a period of every site's.
CREATE INDEX audit_days_day ON audit_days (day);
INSERT INTO audit_days (site_id, day, action, actor, records, settings)
SELECT x.site_id, x.day, x.action, x.actor, COUNT(*), SUM(x.settings)
FROM (SELECT COALESCE(a.site_id, 0) AS site_id, a.action, a.actor,
             CASE WHEN a.detail IS NULL THEN 0 ELSE 1 END AS settings,
             (a.at + (SELECT z.offset_ms FROM report_zone_offsets z WHERE z.from_ms <= a.at
                      ORDER BY z.from_ms DESC LIMIT 1)) / 86400000 AS day
      FROM audit_log a) x
GROUP BY x.site_id, x.day, x.action, x.actor;

-- What the changes report still reads from the records: the PCs activated (distinct) and the
-- PCs the script runs reached (their batches' jobs), from one action's records of a period;
-- and the newest settings changes.
CREATE INDEX audit_log_action ON audit_log (action, at, site_id, actor, pc_id, batch_id);
CREATE INDEX audit_log_settings ON audit_log (at) WHERE detail IS NOT NULL;

-- Row-level security as migration 9 has it for the other tables (SQLite skips this part);
-- report_zone_offsets holds no customer's data (tenant_role.rs, GLOBAL_TABLES).
-- {{POSTGRES}}
ALTER TABLE job_days ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON job_days
    USING (site_id = ANY ((SELECT tenant_sites())::BIGINT[]))
    WITH CHECK (site_id = ANY ((SELECT tenant_sites())::BIGINT[]));
ALTER TABLE security_event_days ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON security_event_days
    USING (site_id = ANY ((SELECT tenant_sites())::BIGINT[]))
    WITH CHECK (site_id = ANY ((SELECT tenant_sites())::BIGINT[]));
ALTER TABLE audit_days ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON audit_days
    USING (site_id = ANY ((SELECT tenant_sites())::BIGINT[]))
    WITH CHECK (site_id = ANY ((SELECT tenant_sites())::BIGINT[]));
