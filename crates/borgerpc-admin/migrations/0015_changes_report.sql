-- The changes report (issue 14, report 6) reads the audit log as a report: who ran what on how
-- many PCs, activations, settings changes. It counts in SQL, so what it filters and joins by is
-- kept as columns, not read out of the target's text per row:
--   pc_id     a change of one PC (target `pc:<id> ...`, or a group's `group:<g> pc:<id>`);
--   group_id  a change of a group or of what it holds (target `group:<id> ...`);
--   batch_id  a script run (target `script:<s> batch:<id>`): the run's jobs, one per PC it
--             was sent to, are the PCs it reached.
-- audit::record_in fills them from the target as it writes a record; the records written
-- before are filled here from theirs (the digits after the prefix, or at the end for a batch
-- and a group member; substr, ltrim and rtrim with a set of characters read the same on SQLite
-- and PostgreSQL). The ids are what the target named then: a deleted PC's id names nothing.
ALTER TABLE audit_log ADD COLUMN pc_id BIGINT;
ALTER TABLE audit_log ADD COLUMN group_id BIGINT;
ALTER TABLE audit_log ADD COLUMN batch_id BIGINT;

UPDATE audit_log
SET pc_id = CAST(substr(target, 4, length(substr(target, 4)) - length(ltrim(substr(target, 4), '0123456789'))) AS BIGINT)
WHERE target LIKE 'pc:%' AND ltrim(substr(target, 4), '0123456789') <> substr(target, 4);

UPDATE audit_log
SET group_id = CAST(substr(target, 7, length(substr(target, 7)) - length(ltrim(substr(target, 7), '0123456789'))) AS BIGINT)
WHERE target LIKE 'group:%' AND ltrim(substr(target, 7), '0123456789') <> substr(target, 7);

UPDATE audit_log
SET pc_id = CAST(substr(target, length(rtrim(target, '0123456789')) + 1) AS BIGINT)
WHERE action IN ('group.join', 'group.leave') AND target LIKE 'group:% pc:%'
  AND rtrim(target, '0123456789') <> target;

UPDATE audit_log
SET batch_id = CAST(substr(target, length(rtrim(target, '0123456789')) + 1) AS BIGINT)
WHERE action = 'script.run' AND target LIKE 'script:% batch:%'
  AND rtrim(target, '0123456789') <> target;

-- The portal-wide view (a superuser's, no site chosen) reads a period of every site's records,
-- and those without a site: by time alone. A site's or a customer's reads use audit_log_site
-- (site_id, at) of migration 2.
CREATE INDEX audit_log_at ON audit_log (at);
