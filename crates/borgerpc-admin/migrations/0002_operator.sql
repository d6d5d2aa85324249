-- What operators manage through the API and the CLI beyond the first schema: group
-- supervisors, and the audit log's record of what a change changed.

-- Supervisors ("ansvarspersoner") of a group get the alert e-mails about its PCs instead of
-- the rule's alert users, as upstream.
CREATE TABLE group_supervisors (
    group_id BIGINT NOT NULL REFERENCES pc_groups (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_supervisors_user ON group_supervisors (user_id);

-- A settings change as JSON {"before": ..., "after": ...}, NULL for other changes. Never a
-- password, a key or anything a PC reported.
ALTER TABLE audit_log ADD COLUMN detail TEXT;
CREATE INDEX audit_log_site ON audit_log (site_id, at);

-- An operator names a wake plan by its name within the site (CLI).
CREATE UNIQUE INDEX wake_week_plans_name ON wake_week_plans (site_id, name);
