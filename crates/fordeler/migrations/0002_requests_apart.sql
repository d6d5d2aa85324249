-- The built request moves to a table of its own. SQLite stores a row's large values in
-- overflow pages and rewrites them on every UPDATE of the row, so with the request inside
-- `deliveries` each state change copied the whole message (well over 100 KB with an inline
-- PDF). Written once, read at each afsend, deleted by purge.
CREATE TABLE delivery_requests (
    delivery_id TEXT PRIMARY KEY REFERENCES deliveries (id),
    request {{BLOB}} NOT NULL
);
INSERT INTO delivery_requests (delivery_id, request)
    SELECT id, request FROM deliveries WHERE request IS NOT NULL;
ALTER TABLE deliveries DROP COLUMN request
