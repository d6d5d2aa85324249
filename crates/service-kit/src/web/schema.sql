-- The web foundation's tables (service_kit::web), the same in every product that has pages.
-- user_id is the product's users.id; no foreign key, so the product's table may be named as
-- it likes. A product deleting a user deletes these rows too.

-- Browser sessions: only the token's hash is stored. user_id NULL: a visitor who has not
-- logged in (the login form needs a CSRF token too).
CREATE TABLE web_sessions (
    token_sha256 TEXT PRIMARY KEY,
    user_id BIGINT,
    csrf TEXT NOT NULL,
    second_factor_ok BIGINT NOT NULL DEFAULT 0,
    language TEXT NOT NULL DEFAULT 'da',
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);

-- A user's TOTP secret (base32). confirmed_at NULL while enrolling: the user has seen the QR
-- code but not yet typed a code from it. last_step: the newest time step accepted, so a code
-- is used once.
CREATE TABLE web_second_factors (
    user_id BIGINT PRIMARY KEY,
    secret TEXT NOT NULL,
    confirmed_at BIGINT,
    last_step BIGINT NOT NULL DEFAULT 0
);

-- One-time backup codes, stored hashed; used_at once used.
CREATE TABLE web_backup_codes (
    user_id BIGINT NOT NULL,
    code_sha256 TEXT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, code_sha256)
);

-- Logins through the pages, successful or not: the user name typed, never a password.
CREATE TABLE web_login_log (
    id {{SERIAL}},
    at BIGINT NOT NULL,
    username TEXT NOT NULL,
    user_id BIGINT,
    address TEXT NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX web_login_log_at ON web_login_log (at);
CREATE INDEX web_login_log_user ON web_login_log (user_id, at);
