-- Audit records belong to their customer (issue 14). audit_log.customer_id (migration 1) is
-- what migration 9's policy lets a customer's administrators read, but until now no record
-- carried it: a change with a site was the site's only (and nobody's but the superusers' once
-- the site was deleted), and a change of the customer's own without a site (a deleted site, a
-- customer admin's role, the customer itself) was portal-wide. store/audit.rs now writes it in
-- the insert (the site's customer, read from `sites`; or the customer its caller names for a
-- change without a site); this migration gives the records kept so far theirs, and the changes
-- report's roll-up a customer per row.
--
-- What the back-fill reads, in order (each only where nothing set it before):
--   1. a record with a site: the site's customer (site ids are never reused);
--   2. a record without a site whose target ends with the customer our code wrote there:
--      `site.delete` (`site:<id> (<uid>) customer:<id>`), `user.grant` of a customer role
--      (`user:<id> (<name>) customer_admin customer:<id>`; the place is always the last word,
--      whatever the name says) and a customer's report subscription
--      (`report-subscription:<id> (<report> <cadence> customer:<id>)`); the customer must exist;
--   3. `customer.*`: the customer its target starts with (`customer:<id> (<name>)`);
--   4. a deleted site's records: the customer its `site.delete` record names (`site:<id> (`);
--   5. `user.create` of a customer admin: the customer of the `user.grant` its transaction
--      wrote after it (same actor, its target starting with the create's target).
-- What cannot be back-filled, and stays the superusers' alone: `user.revoke` and
-- `user.delete` without a site (their target names the user only, and the roles taken are
-- gone); and what has no customer anyway (a superuser made, tenant roles, the global script
-- library, a user's own password and second factor, the portal's second-factor policy).
-- Digits are read with rtrim and ltrim and a set of characters, which read the same on SQLite
-- and PostgreSQL (as migration 15 does).

UPDATE audit_log
SET customer_id = (SELECT s.customer_id FROM sites s WHERE s.id = audit_log.site_id)
WHERE customer_id IS NULL AND site_id IN (SELECT id FROM sites);

UPDATE audit_log
SET customer_id = CAST(substr(target, length(rtrim(target, '0123456789')) + 1) AS BIGINT)
WHERE customer_id IS NULL AND site_id IS NULL AND action IN ('site.delete', 'user.grant')
  AND rtrim(target, '0123456789') <> target
  AND rtrim(target, '0123456789') LIKE '% customer:'
  AND CAST(substr(target, length(rtrim(target, '0123456789')) + 1) AS BIGINT)
      IN (SELECT id FROM customers);

UPDATE audit_log
SET customer_id = CAST(substr(rtrim(target, ')'), length(rtrim(rtrim(target, ')'), '0123456789')) + 1) AS BIGINT)
WHERE customer_id IS NULL AND site_id IS NULL
  AND action IN ('report_subscription.create', 'report_subscription.delete')
  AND target LIKE '%)'
  AND rtrim(rtrim(target, ')'), '0123456789') <> rtrim(target, ')')
  AND rtrim(rtrim(target, ')'), '0123456789') LIKE '% customer:'
  AND CAST(substr(rtrim(target, ')'), length(rtrim(rtrim(target, ')'), '0123456789')) + 1) AS BIGINT)
      IN (SELECT id FROM customers);

UPDATE audit_log
SET customer_id = CAST(substr(target, 10, length(substr(target, 10)) - length(ltrim(substr(target, 10), '0123456789'))) AS BIGINT)
WHERE customer_id IS NULL AND site_id IS NULL AND action LIKE 'customer.%'
  AND target LIKE 'customer:%'
  AND ltrim(substr(target, 10), '0123456789') <> substr(target, 10)
  AND CAST(substr(target, 10, length(substr(target, 10)) - length(ltrim(substr(target, 10), '0123456789'))) AS BIGINT)
      IN (SELECT id FROM customers);

UPDATE audit_log
SET customer_id = (SELECT d.customer_id FROM audit_log d
                   WHERE d.action = 'site.delete' AND d.site_id IS NULL
                     AND d.customer_id IS NOT NULL
                     AND substr(d.target, 1, length('site:' || audit_log.site_id || ' ('))
                         = 'site:' || audit_log.site_id || ' ('
                   ORDER BY d.id DESC LIMIT 1)
WHERE customer_id IS NULL AND site_id IS NOT NULL;

UPDATE audit_log
SET customer_id = (SELECT g.customer_id FROM audit_log g
                   WHERE g.action = 'user.grant' AND g.site_id IS NULL AND g.id > audit_log.id
                     AND g.actor = audit_log.actor
                     AND substr(g.target, 1, length(audit_log.target) + 1) = audit_log.target || ' '
                   ORDER BY g.id LIMIT 1)
WHERE customer_id IS NULL AND site_id IS NULL AND action = 'user.create';

-- A customer's records, of its sites, its deleted sites and without a site: the changes
-- report and the log page of a customer's administrator read them by customer.
CREATE INDEX audit_log_customer ON audit_log (customer_id, at);
-- The changes report's reads of one action's records (migration 17) filter by customer too.
DROP INDEX audit_log_action;
CREATE INDEX audit_log_action ON audit_log (action, at, site_id, customer_id, actor, pc_id, batch_id);

-- The changes report's roll-up (migration 17) with the customer in its key: records per site,
-- customer, local date, action and actor. site_id 0: no site; customer_id 0: no customer (the
-- superusers' alone). Made again from the records, now that they have their customers.
DROP TABLE audit_days;
CREATE TABLE audit_days (
    site_id BIGINT NOT NULL,
    customer_id BIGINT NOT NULL,
    day BIGINT NOT NULL,
    action TEXT NOT NULL,
    actor TEXT NOT NULL,
    records BIGINT NOT NULL,
    settings BIGINT NOT NULL,
    PRIMARY KEY (site_id, day, action, actor, customer_id)
);
-- The portal-wide view reads a period of every site's; a customer's view the customer's.
CREATE INDEX audit_days_day ON audit_days (day);
CREATE INDEX audit_days_customer ON audit_days (customer_id, day);
INSERT INTO audit_days (site_id, customer_id, day, action, actor, records, settings)
SELECT x.site_id, x.customer_id, x.day, x.action, x.actor, COUNT(*), SUM(x.settings)
FROM (SELECT COALESCE(a.site_id, 0) AS site_id, COALESCE(a.customer_id, 0) AS customer_id,
             a.action, a.actor, CASE WHEN a.detail IS NULL THEN 0 ELSE 1 END AS settings,
             (a.at + (SELECT z.offset_ms FROM report_zone_offsets z WHERE z.from_ms <= a.at
                      ORDER BY z.from_ms DESC LIMIT 1)) / 86400000 AS day
      FROM audit_log a) x
GROUP BY x.site_id, x.customer_id, x.day, x.action, x.actor;

-- Row-level security as audit_log's (migration 9): a row is the tenant's when its site or its
-- customer is (SQLite skips this part).
-- {{POSTGRES}}
ALTER TABLE audit_days ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON audit_days
    USING (customer_id = (SELECT tenant_customer()) OR site_id = ANY ((SELECT tenant_sites())::BIGINT[]))
    WITH CHECK (customer_id = (SELECT tenant_customer()) OR site_id = ANY ((SELECT tenant_sites())::BIGINT[]));
