-- Reports (issue 14): the usage roll-up per group, as migration 18's is per site: logins and
-- PCs that reported, per group, site and local date, summed over the group's members now. The
-- usage report's figures per group (and its figures for one group) add these up instead of
-- reading a row per member per day.
--
-- A group's figures are its members' now, as everywhere in the reports, so a member's days
-- are added when it joins and taken away when it leaves (store/groups.rs), all of them, in
-- that transaction; a push adds its change to each of the PC's groups (store/history.rs), a
-- PC's or a site's delete takes its days away first, a group's delete its rows; the
-- retention deletes the days it deletes. The site is the day's (`pc_login_days.site_id`), so a
-- report for some sites counts a member's days there only, as it did from the rows.
CREATE TABLE group_login_days (
    group_id BIGINT NOT NULL REFERENCES pc_groups (id),
    site_id BIGINT NOT NULL REFERENCES sites (id),
    day BIGINT NOT NULL,
    logins BIGINT NOT NULL,
    pcs BIGINT NOT NULL,
    PRIMARY KEY (group_id, site_id, day)
);

-- The back-fill: every member's days kept so far.
INSERT INTO group_login_days (group_id, site_id, day, logins, pcs)
SELECT m.group_id, l.site_id, l.day, SUM(l.logins), COUNT(*)
FROM pc_login_days l JOIN pc_group_members m ON m.pc_id = l.pc_id
GROUP BY m.group_id, l.site_id, l.day;

-- Row-level security as migration 9 has it for the other tables (SQLite skips this part).
-- {{POSTGRES}}
ALTER TABLE group_login_days ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON group_login_days
    USING (site_id = ANY ((SELECT tenant_sites())::BIGINT[]))
    WITH CHECK (site_id = ANY ((SELECT tenant_sites())::BIGINT[]));
