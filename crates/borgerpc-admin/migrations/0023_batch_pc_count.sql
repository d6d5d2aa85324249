-- The changes report (issue 14, report 6) counts the PCs each script run reached. It counted
-- the run's jobs per request: 8,000 runs and 920,000 jobs for a customer's 400 days, 1.9 s on
-- PostgreSQL. And jobs are deleted by the portal's retention and with their PC, so a run older
-- than the jobs kept reached no PCs at all in the report. A batch now keeps how many PCs it was
-- made for (store/jobs.rs writes it with the batch; one job per PC): the number the audit log
-- records, whatever happens to the jobs after. The batches kept so far are given the jobs they
-- still have, the best that is known of them.
ALTER TABLE batches ADD COLUMN pc_count BIGINT NOT NULL DEFAULT 0;
UPDATE batches SET pc_count = (SELECT COUNT(*) FROM jobs j WHERE j.batch_id = batches.id);
