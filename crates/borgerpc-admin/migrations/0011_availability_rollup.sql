-- Reports (issue 14): the availability roll-up, one row per site per UTC day, kept as check-ins
-- arrive, so a report over a customer's 100,000 PCs reads sites x days rows instead of every
-- PC's check-in bits. n00..n95: how many of the site's PCs checked in during each UTC quarter
-- hour of the day (n00 is 00:00-00:15 UTC), the columns of checkin_days' q0 and q1 bits summed.
-- pcs: how many PCs the site had that day (its count in site_pc_counts at the day's latest
-- change), the denominator of the day's share, so a past day keeps its own.
--
-- UTC days, as checkin_days: a Copenhagen date is the tail of one UTC day and the head of the
-- next (whole hours, so whole quarters), and every quarter is in one row only, so the sums of
-- a local date are exact; a local-day row would need the time zone's rules in SQL.
--
-- Written by store/history.rs in the transaction that sets checkin_days' bits, before it
-- sets them, with one statement per batch of check-ins that adds 1 for each bit going from 0
-- to 1 (a repeat in the same quarter adds nothing). A quarter stays with the site the PC was
-- on when it checked in (the PC's row is locked by the batch's first statement, so on
-- PostgreSQL two instances never count one quarter twice). Deleting a PC keeps its quarters
-- here: they are the site's history. Retention and deleting a site delete rows.
--
-- Size (measured): 96 INTEGER counters are about 490 bytes a row on PostgreSQL with the key's
-- index, 178 kB per site per year; on SQLite, where a counter of 0 or 1 takes no byte and one
-- up to 127 takes one, 160 to 180 bytes a row for sites of 20 to 200 PCs (60 to 65 kB a year).
CREATE TABLE site_checkin_days (
    site_id BIGINT NOT NULL REFERENCES sites (id),
    day BIGINT NOT NULL,
    pcs INTEGER NOT NULL,
    n00 INTEGER NOT NULL DEFAULT 0, n01 INTEGER NOT NULL DEFAULT 0, n02 INTEGER NOT NULL DEFAULT 0, n03 INTEGER NOT NULL DEFAULT 0,
    n04 INTEGER NOT NULL DEFAULT 0, n05 INTEGER NOT NULL DEFAULT 0, n06 INTEGER NOT NULL DEFAULT 0, n07 INTEGER NOT NULL DEFAULT 0,
    n08 INTEGER NOT NULL DEFAULT 0, n09 INTEGER NOT NULL DEFAULT 0, n10 INTEGER NOT NULL DEFAULT 0, n11 INTEGER NOT NULL DEFAULT 0,
    n12 INTEGER NOT NULL DEFAULT 0, n13 INTEGER NOT NULL DEFAULT 0, n14 INTEGER NOT NULL DEFAULT 0, n15 INTEGER NOT NULL DEFAULT 0,
    n16 INTEGER NOT NULL DEFAULT 0, n17 INTEGER NOT NULL DEFAULT 0, n18 INTEGER NOT NULL DEFAULT 0, n19 INTEGER NOT NULL DEFAULT 0,
    n20 INTEGER NOT NULL DEFAULT 0, n21 INTEGER NOT NULL DEFAULT 0, n22 INTEGER NOT NULL DEFAULT 0, n23 INTEGER NOT NULL DEFAULT 0,
    n24 INTEGER NOT NULL DEFAULT 0, n25 INTEGER NOT NULL DEFAULT 0, n26 INTEGER NOT NULL DEFAULT 0, n27 INTEGER NOT NULL DEFAULT 0,
    n28 INTEGER NOT NULL DEFAULT 0, n29 INTEGER NOT NULL DEFAULT 0, n30 INTEGER NOT NULL DEFAULT 0, n31 INTEGER NOT NULL DEFAULT 0,
    n32 INTEGER NOT NULL DEFAULT 0, n33 INTEGER NOT NULL DEFAULT 0, n34 INTEGER NOT NULL DEFAULT 0, n35 INTEGER NOT NULL DEFAULT 0,
    n36 INTEGER NOT NULL DEFAULT 0, n37 INTEGER NOT NULL DEFAULT 0, n38 INTEGER NOT NULL DEFAULT 0, n39 INTEGER NOT NULL DEFAULT 0,
    n40 INTEGER NOT NULL DEFAULT 0, n41 INTEGER NOT NULL DEFAULT 0, n42 INTEGER NOT NULL DEFAULT 0, n43 INTEGER NOT NULL DEFAULT 0,
    n44 INTEGER NOT NULL DEFAULT 0, n45 INTEGER NOT NULL DEFAULT 0, n46 INTEGER NOT NULL DEFAULT 0, n47 INTEGER NOT NULL DEFAULT 0,
    n48 INTEGER NOT NULL DEFAULT 0, n49 INTEGER NOT NULL DEFAULT 0, n50 INTEGER NOT NULL DEFAULT 0, n51 INTEGER NOT NULL DEFAULT 0,
    n52 INTEGER NOT NULL DEFAULT 0, n53 INTEGER NOT NULL DEFAULT 0, n54 INTEGER NOT NULL DEFAULT 0, n55 INTEGER NOT NULL DEFAULT 0,
    n56 INTEGER NOT NULL DEFAULT 0, n57 INTEGER NOT NULL DEFAULT 0, n58 INTEGER NOT NULL DEFAULT 0, n59 INTEGER NOT NULL DEFAULT 0,
    n60 INTEGER NOT NULL DEFAULT 0, n61 INTEGER NOT NULL DEFAULT 0, n62 INTEGER NOT NULL DEFAULT 0, n63 INTEGER NOT NULL DEFAULT 0,
    n64 INTEGER NOT NULL DEFAULT 0, n65 INTEGER NOT NULL DEFAULT 0, n66 INTEGER NOT NULL DEFAULT 0, n67 INTEGER NOT NULL DEFAULT 0,
    n68 INTEGER NOT NULL DEFAULT 0, n69 INTEGER NOT NULL DEFAULT 0, n70 INTEGER NOT NULL DEFAULT 0, n71 INTEGER NOT NULL DEFAULT 0,
    n72 INTEGER NOT NULL DEFAULT 0, n73 INTEGER NOT NULL DEFAULT 0, n74 INTEGER NOT NULL DEFAULT 0, n75 INTEGER NOT NULL DEFAULT 0,
    n76 INTEGER NOT NULL DEFAULT 0, n77 INTEGER NOT NULL DEFAULT 0, n78 INTEGER NOT NULL DEFAULT 0, n79 INTEGER NOT NULL DEFAULT 0,
    n80 INTEGER NOT NULL DEFAULT 0, n81 INTEGER NOT NULL DEFAULT 0, n82 INTEGER NOT NULL DEFAULT 0, n83 INTEGER NOT NULL DEFAULT 0,
    n84 INTEGER NOT NULL DEFAULT 0, n85 INTEGER NOT NULL DEFAULT 0, n86 INTEGER NOT NULL DEFAULT 0, n87 INTEGER NOT NULL DEFAULT 0,
    n88 INTEGER NOT NULL DEFAULT 0, n89 INTEGER NOT NULL DEFAULT 0, n90 INTEGER NOT NULL DEFAULT 0, n91 INTEGER NOT NULL DEFAULT 0,
    n92 INTEGER NOT NULL DEFAULT 0, n93 INTEGER NOT NULL DEFAULT 0, n94 INTEGER NOT NULL DEFAULT 0, n95 INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site_id, day)
);

-- The back-fill: the check-ins kept so far, each PC's quarters at its site now (check-ins
-- before this version recorded no site), with the site's PC count now.
INSERT INTO site_checkin_days (site_id, day, pcs,
    n00, n01, n02, n03, n04, n05, n06, n07, n08, n09, n10, n11, n12, n13, n14, n15, n16, n17,
    n18, n19, n20, n21, n22, n23, n24, n25, n26, n27, n28, n29, n30, n31, n32, n33, n34, n35,
    n36, n37, n38, n39, n40, n41, n42, n43, n44, n45, n46, n47, n48, n49, n50, n51, n52, n53,
    n54, n55, n56, n57, n58, n59, n60, n61, n62, n63, n64, n65, n66, n67, n68, n69, n70, n71,
    n72, n73, n74, n75, n76, n77, n78, n79, n80, n81, n82, n83, n84, n85, n86, n87, n88, n89,
    n90, n91, n92, n93, n94, n95)
SELECT p.site_id, c.day, COALESCE(MAX(k.n), 0),
    SUM((c.q0 >> 0) & 1), SUM((c.q0 >> 1) & 1), SUM((c.q0 >> 2) & 1), SUM((c.q0 >> 3) & 1), SUM((c.q0 >> 4) & 1), SUM((c.q0 >> 5) & 1),
    SUM((c.q0 >> 6) & 1), SUM((c.q0 >> 7) & 1), SUM((c.q0 >> 8) & 1), SUM((c.q0 >> 9) & 1), SUM((c.q0 >> 10) & 1), SUM((c.q0 >> 11) & 1),
    SUM((c.q0 >> 12) & 1), SUM((c.q0 >> 13) & 1), SUM((c.q0 >> 14) & 1), SUM((c.q0 >> 15) & 1), SUM((c.q0 >> 16) & 1), SUM((c.q0 >> 17) & 1),
    SUM((c.q0 >> 18) & 1), SUM((c.q0 >> 19) & 1), SUM((c.q0 >> 20) & 1), SUM((c.q0 >> 21) & 1), SUM((c.q0 >> 22) & 1), SUM((c.q0 >> 23) & 1),
    SUM((c.q0 >> 24) & 1), SUM((c.q0 >> 25) & 1), SUM((c.q0 >> 26) & 1), SUM((c.q0 >> 27) & 1), SUM((c.q0 >> 28) & 1), SUM((c.q0 >> 29) & 1),
    SUM((c.q0 >> 30) & 1), SUM((c.q0 >> 31) & 1), SUM((c.q0 >> 32) & 1), SUM((c.q0 >> 33) & 1), SUM((c.q0 >> 34) & 1), SUM((c.q0 >> 35) & 1),
    SUM((c.q0 >> 36) & 1), SUM((c.q0 >> 37) & 1), SUM((c.q0 >> 38) & 1), SUM((c.q0 >> 39) & 1), SUM((c.q0 >> 40) & 1), SUM((c.q0 >> 41) & 1),
    SUM((c.q0 >> 42) & 1), SUM((c.q0 >> 43) & 1), SUM((c.q0 >> 44) & 1), SUM((c.q0 >> 45) & 1), SUM((c.q0 >> 46) & 1), SUM((c.q0 >> 47) & 1),
    SUM((c.q1 >> 0) & 1), SUM((c.q1 >> 1) & 1), SUM((c.q1 >> 2) & 1), SUM((c.q1 >> 3) & 1), SUM((c.q1 >> 4) & 1), SUM((c.q1 >> 5) & 1),
    SUM((c.q1 >> 6) & 1), SUM((c.q1 >> 7) & 1), SUM((c.q1 >> 8) & 1), SUM((c.q1 >> 9) & 1), SUM((c.q1 >> 10) & 1), SUM((c.q1 >> 11) & 1),
    SUM((c.q1 >> 12) & 1), SUM((c.q1 >> 13) & 1), SUM((c.q1 >> 14) & 1), SUM((c.q1 >> 15) & 1), SUM((c.q1 >> 16) & 1), SUM((c.q1 >> 17) & 1),
    SUM((c.q1 >> 18) & 1), SUM((c.q1 >> 19) & 1), SUM((c.q1 >> 20) & 1), SUM((c.q1 >> 21) & 1), SUM((c.q1 >> 22) & 1), SUM((c.q1 >> 23) & 1),
    SUM((c.q1 >> 24) & 1), SUM((c.q1 >> 25) & 1), SUM((c.q1 >> 26) & 1), SUM((c.q1 >> 27) & 1), SUM((c.q1 >> 28) & 1), SUM((c.q1 >> 29) & 1),
    SUM((c.q1 >> 30) & 1), SUM((c.q1 >> 31) & 1), SUM((c.q1 >> 32) & 1), SUM((c.q1 >> 33) & 1), SUM((c.q1 >> 34) & 1), SUM((c.q1 >> 35) & 1),
    SUM((c.q1 >> 36) & 1), SUM((c.q1 >> 37) & 1), SUM((c.q1 >> 38) & 1), SUM((c.q1 >> 39) & 1), SUM((c.q1 >> 40) & 1), SUM((c.q1 >> 41) & 1),
    SUM((c.q1 >> 42) & 1), SUM((c.q1 >> 43) & 1), SUM((c.q1 >> 44) & 1), SUM((c.q1 >> 45) & 1), SUM((c.q1 >> 46) & 1), SUM((c.q1 >> 47) & 1)
FROM checkin_days c JOIN pcs p ON p.id = c.pc_id
LEFT JOIN site_pc_counts k ON k.site_id = p.site_id AND k.fact = 'pcs' AND k.fact_value = ''
GROUP BY p.site_id, c.day;

-- A site's opening hours, configured by its administrators: one interval per weekday
-- (1 Monday to 7 Sunday) in minutes after local midnight, closes after opens (no night
-- opening: a library closes before midnight). A weekday without a row is closed; a site
-- without rows has none configured, and its PCs' wake plans stand in for them. Uptime within
-- opening hours is reckoned per quarter hour: a quarter counts when it begins in [opens,
-- closes) on the local clock, so 08:00-16:00 is 32 quarters on a DST day too.
CREATE TABLE site_opening_hours (
    site_id BIGINT NOT NULL REFERENCES sites (id),
    weekday BIGINT NOT NULL,
    opens BIGINT NOT NULL,
    closes BIGINT NOT NULL,
    PRIMARY KEY (site_id, weekday)
);

-- Row-level security as migration 9 has it for the other tables (SQLite skips this part).
-- {{POSTGRES}}
ALTER TABLE site_checkin_days ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON site_checkin_days
    USING (site_id = ANY ((SELECT tenant_sites())::BIGINT[]))
    WITH CHECK (site_id = ANY ((SELECT tenant_sites())::BIGINT[]));
ALTER TABLE site_opening_hours ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON site_opening_hours
    USING (site_id = ANY ((SELECT tenant_sites())::BIGINT[]))
    WITH CHECK (site_id = ANY ((SELECT tenant_sites())::BIGINT[]));
