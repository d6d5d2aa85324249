-- PC identity and registration hardened (issue 11): nothing an outsider sends binds a key,
-- and no answer tells whether a MAC address is registered with another customer.

-- A key offered by a PC that has none (registered by a 2.x agent, or without a key). It is
-- not the PC's key until an operator approves it; only the first offer is kept, and a key
-- read off the PC itself (its whole fingerprint) can be approved whatever was offered.
ALTER TABLE pcs ADD COLUMN pending_key_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE pcs ADD COLUMN pending_key_at BIGINT;

-- New PCs get random uids (older ones keep md5 of their MAC), so the same MAC may be
-- registered with two customers and neither can tell. Within a customer a MAC is registered
-- once: registration looks it up by this expression, written the same way there.
CREATE INDEX pcs_mac ON pcs (lower(replace(mac, '-', ':')));

-- When set, a PC registering with the site must type "<site uid>+<token>" as its site.
ALTER TABLE sites ADD COLUMN registration_token_sha256 TEXT NOT NULL DEFAULT ''
