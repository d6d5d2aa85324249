-- Large contents are not stored twice, and on SQLite not in the database at all.
--
-- A FORMULAR's request is stored without its inline PDF, which is already an attachment:
-- which attachment, and the byte offset in `request` where its Base64 goes at send time.
-- NULL for requests stored whole (every other kind, and those built before).
ALTER TABLE delivery_requests ADD COLUMN inline_attachment_id TEXT;
ALTER TABLE delivery_requests ADD COLUMN inline_at BIGINT;
-- On a SQLite file an attachment's content is in a segment file beside the database (see
-- file_store.rs), at this offset, and `data` is NULL. Offset NULL and data NULL: purged.
ALTER TABLE attachments ADD COLUMN file_segment TEXT;
ALTER TABLE attachments ADD COLUMN file_offset BIGINT;
CREATE INDEX attachments_segment ON attachments (file_segment)
