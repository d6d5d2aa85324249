-- Reports (issue 14): the inventory, one row per PC holding what its agent reported about
-- itself, as the text it sent (NULL: not reported). Kept by store/reports/inventory.rs in the
-- same transaction as each write of the PC or of one of these entries of its own, so the
-- report counts 100,000 PCs from one index instead of seeking 13 entries per PC in
-- config_entries. The flags (end of Ubuntu support, agents older than a version) change with
-- the day and the question, so they are judged when read, never stored.
--
-- site_id: the PC's site (pcs.site_id), for the report's scope, its counts per site and the
-- row-level policy.
CREATE TABLE pc_inventory (
    pc_id BIGINT PRIMARY KEY REFERENCES pcs (id),
    site_id BIGINT NOT NULL REFERENCES sites (id),
    os2_product TEXT,
    -- _os_release, _os_name (each check-in) and os_name (registration's description)
    os_release TEXT,
    os_name TEXT,
    os_name_registered TEXT,
    kernel_version TEXT,
    -- _os2borgerpc.client_version (the agent) and os2borgerpc_version (the image)
    client_version TEXT,
    image_version TEXT,
    pc_manufacturer TEXT,
    pc_model TEXT,
    pc_cpus TEXT,
    pc_ram TEXT,
    -- _last_automatic_update_time and _last_full_update_time: the PC's local time
    last_automatic_update TEXT,
    last_full_update TEXT
);
INSERT INTO pc_inventory (pc_id, site_id, os2_product, os_release, os_name, os_name_registered,
        kernel_version, client_version, image_version, pc_manufacturer, pc_model, pc_cpus,
        pc_ram, last_automatic_update, last_full_update)
    SELECT p.id, p.site_id,
        (SELECT e.entry_value FROM config_entries e WHERE e.owner_kind = 'pc' AND e.owner_id = p.id AND e.entry_key = 'os2_product'),
        (SELECT e.entry_value FROM config_entries e WHERE e.owner_kind = 'pc' AND e.owner_id = p.id AND e.entry_key = '_os_release'),
        (SELECT e.entry_value FROM config_entries e WHERE e.owner_kind = 'pc' AND e.owner_id = p.id AND e.entry_key = '_os_name'),
        (SELECT e.entry_value FROM config_entries e WHERE e.owner_kind = 'pc' AND e.owner_id = p.id AND e.entry_key = 'os_name'),
        (SELECT e.entry_value FROM config_entries e WHERE e.owner_kind = 'pc' AND e.owner_id = p.id AND e.entry_key = '_kernel_version'),
        (SELECT e.entry_value FROM config_entries e WHERE e.owner_kind = 'pc' AND e.owner_id = p.id AND e.entry_key = '_os2borgerpc.client_version'),
        (SELECT e.entry_value FROM config_entries e WHERE e.owner_kind = 'pc' AND e.owner_id = p.id AND e.entry_key = 'os2borgerpc_version'),
        (SELECT e.entry_value FROM config_entries e WHERE e.owner_kind = 'pc' AND e.owner_id = p.id AND e.entry_key = 'pc_manufacturer'),
        (SELECT e.entry_value FROM config_entries e WHERE e.owner_kind = 'pc' AND e.owner_id = p.id AND e.entry_key = 'pc_model'),
        (SELECT e.entry_value FROM config_entries e WHERE e.owner_kind = 'pc' AND e.owner_id = p.id AND e.entry_key = 'pc_cpus'),
        (SELECT e.entry_value FROM config_entries e WHERE e.owner_kind = 'pc' AND e.owner_id = p.id AND e.entry_key = 'pc_ram'),
        (SELECT e.entry_value FROM config_entries e WHERE e.owner_kind = 'pc' AND e.owner_id = p.id AND e.entry_key = '_last_automatic_update_time'),
        (SELECT e.entry_value FROM config_entries e WHERE e.owner_kind = 'pc' AND e.owner_id = p.id AND e.entry_key = '_last_full_update_time')
    FROM pcs p;
-- The PC list's version column and filter read pcs.client_version, which nothing wrote: it is
-- now kept with the agent's _os2borgerpc.client_version entry, and filled from it here.
UPDATE pcs SET client_version = (SELECT e.entry_value FROM config_entries e
        WHERE e.owner_kind = 'pc' AND e.owner_id = pcs.id AND e.entry_key = '_os2borgerpc.client_version')
    WHERE EXISTS (SELECT 1 FROM config_entries e
        WHERE e.owner_kind = 'pc' AND e.owner_id = pcs.id AND e.entry_key = '_os2borgerpc.client_version');
-- The report's counts (grouped by these columns, site first) and its filters, answered from
-- the index alone; its pages join the PCs by pc_id.
CREATE INDEX pc_inventory_counts
    ON pc_inventory (site_id, os2_product, os_release, client_version, pc_manufacturer, pc_model);

-- Row-level security as migration 9 has it for the other tables (SQLite skips this part).
-- {{POSTGRES}}
ALTER TABLE pc_inventory ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON pc_inventory
    USING (site_id = ANY ((SELECT tenant_sites())::BIGINT[]))
    WITH CHECK (site_id = ANY ((SELECT tenant_sites())::BIGINT[]));
