-- A local script can be deleted from its site's pages, but its history cannot: batches point
-- at its versions (script_versions -> scripts), and jobs at batches, so the rows stay and the
-- script is only marked. A deleted script leaves every list, picker, the run wizard and the
-- agents' security scripts; old jobs and batches still show its name and code.
ALTER TABLE scripts ADD COLUMN deleted_at BIGINT;
