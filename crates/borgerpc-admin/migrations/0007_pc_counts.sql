-- A site's PC counts that only change when a PC is written: how many, how many activated,
-- and how many per product and Ubuntu release the agents report (fact = the configuration
-- key, fact_value = its value). Kept by store::pc_counts in the same transaction as each
-- such write, so the status page and the sites overview read a few rows instead of counting
-- 100,000 PCs on every request.
CREATE TABLE site_pc_counts (
    site_id BIGINT NOT NULL REFERENCES sites (id),
    fact TEXT NOT NULL,
    fact_value TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (site_id, fact, fact_value)
);
INSERT INTO site_pc_counts (site_id, fact, fact_value, n)
    SELECT site_id, 'pcs', '', COUNT(*) FROM pcs GROUP BY site_id;
INSERT INTO site_pc_counts (site_id, fact, fact_value, n)
    SELECT site_id, 'activated', '', COUNT(*) FROM pcs WHERE is_activated <> 0 GROUP BY site_id;
INSERT INTO site_pc_counts (site_id, fact, fact_value, n)
    SELECT p.site_id, e.entry_key, e.entry_value, COUNT(*)
    FROM pcs p JOIN config_entries e ON e.owner_kind = 'pc' AND e.owner_id = p.id
    WHERE e.entry_key IN ('os2_product', '_os_release')
    GROUP BY p.site_id, e.entry_key, e.entry_value;
-- The status page's order ("new PCs first, then by last seen, never seen last") as an index
-- both databases walk without sorting; the expression is the one views::PcSort writes.
DROP INDEX pcs_attention;
CREATE INDEX pcs_attention ON pcs (site_id, is_activated, (COALESCE(last_seen, 0)) DESC, id);
-- Online PCs (and the list's online filter with activation) counted as a range of this
-- index; PostgreSQL cannot count from an expression index without visiting the table.
CREATE INDEX pcs_seen ON pcs (site_id, last_seen, is_activated);
-- The PC list in name order with its activation and online filters answered from the index:
-- page 500 skips 25,000 entries without a visit to the table for each.
DROP INDEX pcs_site;
CREATE INDEX pcs_site ON pcs (site_id, name, id, is_activated, last_seen);
