-- What the portal's pages look up that the agents and the API did not: a batch's jobs (the
-- run's progress page, the job list's batch filter).
CREATE INDEX jobs_batch ON jobs (batch_id);
-- The event list, newest first within a site.
CREATE INDEX security_events_site_time ON security_events (site_id, occurred_at);
-- A site's PCs by activation and last check-in: the status page's order ("new PCs first,
-- then by last seen") and its counts, read from the index without sorting the site's PCs.
CREATE INDEX pcs_attention ON pcs (site_id, is_activated, last_seen);
-- The client versions a site's PCs report (the PC list's filter), without reading its PCs.
CREATE INDEX pcs_version ON pcs (site_id, client_version);
