-- Row-level security by customer (issue 15): a second wall on a shared PostgreSQL. The portal
-- filters every query by customer itself and runs as the tables' owner, which policies do not
-- touch (no FORCE), so it keeps its plans. A tenant role (`borgerpc-admin tenant-role grant`)
-- is mapped to one customer in tenant_roles, and every table holding customer data has a
-- policy that lets it read and write that customer's rows only, whatever its query says.
--
-- SQLite has no roles and no policies: it skips this whole migration (service-kit's marker).
-- borgerpc_admin::tenant_role::GLOBAL_TABLES lists the tables without a customer, and a test holds every other
-- table of the schema to having a policy here.
--
-- How a policy finds the customer: tenant_customer() reads the current role's row of
-- tenant_roles and tenant_sites() that customer's sites, both as the caller (SECURITY
-- INVOKER), so they can hand out nothing the caller could not read itself: tenant_roles
-- shows a role its own row only, sites its customer's. Their bodies are SQL-standard
-- (RETURN), parsed when created: no search_path at call time can swap the tables they read
-- (PostgreSQL 14 and later; Debian 12 has 15). Policies call them as (SELECT f()), so they
-- are evaluated once per statement, not once per row. Tables keyed further away (a PC, a
-- group, a job) use a subquery on their parent, to which the parent's own policy applies.
-- {{POSTGRES}}

CREATE TABLE tenant_roles (
    role_name TEXT PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);
ALTER TABLE tenant_roles ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_own_row ON tenant_roles FOR SELECT USING (role_name = current_user);

CREATE FUNCTION tenant_customer() RETURNS BIGINT
    LANGUAGE sql STABLE SECURITY INVOKER PARALLEL SAFE
    RETURN (SELECT t.customer_id FROM tenant_roles t WHERE t.role_name = current_user);

CREATE FUNCTION tenant_sites() RETURNS BIGINT[]
    LANGUAGE sql STABLE SECURITY INVOKER PARALLEL SAFE
    RETURN ARRAY(SELECT s.id FROM sites s WHERE s.customer_id = tenant_customer());

-- Keyed by customer.
ALTER TABLE customers ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON customers
    USING (id = (SELECT tenant_customer())) WITH CHECK (id = (SELECT tenant_customer()));
ALTER TABLE sites ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON sites
    USING (customer_id = (SELECT tenant_customer()))
    WITH CHECK (customer_id = (SELECT tenant_customer()));
-- A customer admin's membership names the customer, a site role's the site.
ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON memberships
    USING (customer_id = (SELECT tenant_customer()) OR site_id = ANY ((SELECT tenant_sites())::BIGINT[]))
    WITH CHECK (customer_id = (SELECT tenant_customer()) OR site_id = ANY ((SELECT tenant_sites())::BIGINT[]));
-- Changes to a customer or one of its sites; the portal-wide ones (no customer, no site) are
-- the superusers'.
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON audit_log
    USING (customer_id = (SELECT tenant_customer()) OR site_id = ANY ((SELECT tenant_sites())::BIGINT[]))
    WITH CHECK (customer_id = (SELECT tenant_customer()) OR site_id = ANY ((SELECT tenant_sites())::BIGINT[]));

-- Keyed by site.
ALTER TABLE wake_week_plans ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON wake_week_plans
    USING (site_id = ANY ((SELECT tenant_sites())::BIGINT[])) WITH CHECK (site_id = ANY ((SELECT tenant_sites())::BIGINT[]));
ALTER TABLE wake_change_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON wake_change_events
    USING (site_id = ANY ((SELECT tenant_sites())::BIGINT[])) WITH CHECK (site_id = ANY ((SELECT tenant_sites())::BIGINT[]));
ALTER TABLE pc_groups ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON pc_groups
    USING (site_id = ANY ((SELECT tenant_sites())::BIGINT[])) WITH CHECK (site_id = ANY ((SELECT tenant_sites())::BIGINT[]));
ALTER TABLE pcs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON pcs
    USING (site_id = ANY ((SELECT tenant_sites())::BIGINT[])) WITH CHECK (site_id = ANY ((SELECT tenant_sites())::BIGINT[]));
ALTER TABLE files ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON files
    USING (site_id = ANY ((SELECT tenant_sites())::BIGINT[])) WITH CHECK (site_id = ANY ((SELECT tenant_sites())::BIGINT[]));
ALTER TABLE batches ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON batches
    USING (site_id = ANY ((SELECT tenant_sites())::BIGINT[])) WITH CHECK (site_id = ANY ((SELECT tenant_sites())::BIGINT[]));
ALTER TABLE jobs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON jobs
    USING (site_id = ANY ((SELECT tenant_sites())::BIGINT[])) WITH CHECK (site_id = ANY ((SELECT tenant_sites())::BIGINT[]));
ALTER TABLE security_problems ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON security_problems
    USING (site_id = ANY ((SELECT tenant_sites())::BIGINT[])) WITH CHECK (site_id = ANY ((SELECT tenant_sites())::BIGINT[]));
ALTER TABLE offline_rules ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON offline_rules
    USING (site_id = ANY ((SELECT tenant_sites())::BIGINT[])) WITH CHECK (site_id = ANY ((SELECT tenant_sites())::BIGINT[]));
ALTER TABLE security_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON security_events
    USING (site_id = ANY ((SELECT tenant_sites())::BIGINT[])) WITH CHECK (site_id = ANY ((SELECT tenant_sites())::BIGINT[]));
ALTER TABLE login_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON login_log
    USING (site_id = ANY ((SELECT tenant_sites())::BIGINT[])) WITH CHECK (site_id = ANY ((SELECT tenant_sites())::BIGINT[]));
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON api_keys
    USING (site_id = ANY ((SELECT tenant_sites())::BIGINT[])) WITH CHECK (site_id = ANY ((SELECT tenant_sites())::BIGINT[]));
ALTER TABLE site_pc_counts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON site_pc_counts
    USING (site_id = ANY ((SELECT tenant_sites())::BIGINT[])) WITH CHECK (site_id = ANY ((SELECT tenant_sites())::BIGINT[]));

-- Scripts: a global script (no site) is shared, read-only to tenants, as in the portal. The
-- policies of one command are OR-ed: reading takes either, writing only the second.
ALTER TABLE scripts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_read ON scripts FOR SELECT
    USING (site_id IS NULL OR site_id = ANY ((SELECT tenant_sites())::BIGINT[]));
CREATE POLICY tenant ON scripts
    USING (site_id = ANY ((SELECT tenant_sites())::BIGINT[])) WITH CHECK (site_id = ANY ((SELECT tenant_sites())::BIGINT[]));
ALTER TABLE script_versions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_read ON script_versions FOR SELECT
    USING (script_id IN (SELECT id FROM scripts));
CREATE POLICY tenant ON script_versions
    USING (script_id IN (SELECT id FROM scripts WHERE site_id IS NOT NULL))
    WITH CHECK (script_id IN (SELECT id FROM scripts WHERE site_id IS NOT NULL));
ALTER TABLE script_tags ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_read ON script_tags FOR SELECT
    USING (script_id IN (SELECT id FROM scripts));
CREATE POLICY tenant ON script_tags
    USING (script_id IN (SELECT id FROM scripts WHERE site_id IS NOT NULL))
    WITH CHECK (script_id IN (SELECT id FROM scripts WHERE site_id IS NOT NULL));
ALTER TABLE inputs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_read ON inputs FOR SELECT
    USING (script_version_id IN (SELECT id FROM script_versions));
CREATE POLICY tenant ON inputs
    USING (script_version_id IN (SELECT v.id FROM script_versions v
                                 JOIN scripts s ON s.id = v.script_id WHERE s.site_id IS NOT NULL))
    WITH CHECK (script_version_id IN (SELECT v.id FROM script_versions v
                                      JOIN scripts s ON s.id = v.script_id WHERE s.site_id IS NOT NULL));

-- Keyed through a parent row, whose own policy the subquery meets.
ALTER TABLE wake_plan_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON wake_plan_events
    USING (plan_id IN (SELECT id FROM wake_week_plans) AND event_id IN (SELECT id FROM wake_change_events))
    WITH CHECK (plan_id IN (SELECT id FROM wake_week_plans) AND event_id IN (SELECT id FROM wake_change_events));
ALTER TABLE pc_group_members ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON pc_group_members
    USING (pc_id IN (SELECT id FROM pcs) AND group_id IN (SELECT id FROM pc_groups))
    WITH CHECK (pc_id IN (SELECT id FROM pcs) AND group_id IN (SELECT id FROM pc_groups));
ALTER TABLE checkin_days ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON checkin_days
    USING (pc_id IN (SELECT id FROM pcs)) WITH CHECK (pc_id IN (SELECT id FROM pcs));
ALTER TABLE pc_reports ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON pc_reports
    USING (pc_id IN (SELECT id FROM pcs)) WITH CHECK (pc_id IN (SELECT id FROM pcs));
ALTER TABLE group_supervisors ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON group_supervisors
    USING (group_id IN (SELECT id FROM pc_groups)) WITH CHECK (group_id IN (SELECT id FROM pc_groups));
ALTER TABLE rule_groups ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON rule_groups
    USING (group_id IN (SELECT id FROM pc_groups)) WITH CHECK (group_id IN (SELECT id FROM pc_groups));
ALTER TABLE associated_scripts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON associated_scripts
    USING (group_id IN (SELECT id FROM pc_groups)) WITH CHECK (group_id IN (SELECT id FROM pc_groups));
ALTER TABLE associated_script_parameters ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON associated_script_parameters
    USING (associated_script_id IN (SELECT id FROM associated_scripts))
    WITH CHECK (associated_script_id IN (SELECT id FROM associated_scripts));
ALTER TABLE batch_parameters ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON batch_parameters
    USING (batch_id IN (SELECT id FROM batches)) WITH CHECK (batch_id IN (SELECT id FROM batches));
ALTER TABLE job_file_urls ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON job_file_urls
    USING (job_id IN (SELECT id FROM jobs)) WITH CHECK (job_id IN (SELECT id FROM jobs));
-- A configuration entry belongs to a site, a group or a PC (owner_kind).
ALTER TABLE config_entries ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON config_entries
    USING ((owner_kind = 'site' AND owner_id = ANY ((SELECT tenant_sites())::BIGINT[]))
        OR (owner_kind = 'group' AND owner_id IN (SELECT id FROM pc_groups))
        OR (owner_kind = 'pc' AND owner_id IN (SELECT id FROM pcs)))
    WITH CHECK ((owner_kind = 'site' AND owner_id = ANY ((SELECT tenant_sites())::BIGINT[]))
        OR (owner_kind = 'group' AND owner_id IN (SELECT id FROM pc_groups))
        OR (owner_kind = 'pc' AND owner_id IN (SELECT id FROM pcs)));
-- A rule's alert users, by the rule's kind (security_problems or offline_rules).
ALTER TABLE rule_alert_users ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON rule_alert_users
    USING ((rule_kind = 'security' AND rule_id IN (SELECT id FROM security_problems))
        OR (rule_kind = 'offline' AND rule_id IN (SELECT id FROM offline_rules)))
    WITH CHECK ((rule_kind = 'security' AND rule_id IN (SELECT id FROM security_problems))
        OR (rule_kind = 'offline' AND rule_id IN (SELECT id FROM offline_rules)));

-- People: a user is the customer's when one of their memberships is (a user of two customers
-- is seen by both; a superuser without memberships by none), and so are their sessions,
-- second factors and logins. A tenant role cannot make a user without a membership.
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON users
    USING (id IN (SELECT user_id FROM memberships)) WITH CHECK (id IN (SELECT user_id FROM memberships));
ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON sessions
    USING (user_id IN (SELECT id FROM users)) WITH CHECK (user_id IN (SELECT id FROM users));
ALTER TABLE web_sessions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON web_sessions
    USING (user_id IN (SELECT id FROM users)) WITH CHECK (user_id IN (SELECT id FROM users));
ALTER TABLE web_second_factors ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON web_second_factors
    USING (user_id IN (SELECT id FROM users)) WITH CHECK (user_id IN (SELECT id FROM users));
ALTER TABLE web_backup_codes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON web_backup_codes
    USING (user_id IN (SELECT id FROM users)) WITH CHECK (user_id IN (SELECT id FROM users));
ALTER TABLE web_login_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON web_login_log
    USING (user_id IN (SELECT id FROM users)) WITH CHECK (user_id IN (SELECT id FROM users));
