-- The portal's schema: the contract between the client-api, the operator API, the CLI and the
-- schedulers. Portable SQL for SQLite and PostgreSQL; times are Unix milliseconds unless a
-- column says otherwise; {{BLOB}} and {{SERIAL}} are replaced per dialect by service-kit.
--
-- Tenancy: every row hangs off a site, and every site off one customer (municipality).
-- Global scripts (site_id NULL) are the one shared thing; they are read-only to tenants.

CREATE TABLE customers (
    id {{SERIAL}},
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

-- uid: what a PC types at registration; lower-case letters, digits and '-'.
-- legacy_xmlrpc: 2.x agents identify themselves by MAC alone, so it is off unless asked for.
CREATE TABLE sites (
    id {{SERIAL}},
    customer_id BIGINT NOT NULL REFERENCES customers (id),
    uid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    legacy_xmlrpc BIGINT NOT NULL DEFAULT 0,
    rerun_asc BIGINT NOT NULL DEFAULT 1,
    user_login_duration_s BIGINT NOT NULL DEFAULT 3600,
    user_quarantine_duration_s BIGINT NOT NULL DEFAULT 14400,
    created_at BIGINT NOT NULL
);

CREATE TABLE wake_week_plans (
    id {{SERIAL}},
    site_id BIGINT NOT NULL REFERENCES sites (id),
    name TEXT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 1,
    sleep_state TEXT NOT NULL DEFAULT 'OFF',
    -- Seven entries Monday..Sunday: {"open": bool, "on": "HH:MM", "off": "HH:MM"}.
    week_json TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE wake_change_events (
    id {{SERIAL}},
    site_id BIGINT NOT NULL REFERENCES sites (id),
    name TEXT NOT NULL,
    date_start TEXT NOT NULL,
    date_end TEXT NOT NULL,
    time_start TEXT,
    time_end TEXT,
    kind TEXT NOT NULL
);

CREATE TABLE wake_plan_events (
    plan_id BIGINT NOT NULL REFERENCES wake_week_plans (id),
    event_id BIGINT NOT NULL REFERENCES wake_change_events (id),
    PRIMARY KEY (plan_id, event_id)
);

CREATE TABLE pc_groups (
    id {{SERIAL}},
    site_id BIGINT NOT NULL REFERENCES sites (id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    wake_week_plan_id BIGINT REFERENCES wake_week_plans (id),
    created_at BIGINT NOT NULL,
    UNIQUE (site_id, name)
);

-- uid = md5(mac), as the agents expect. client_key_hash = sha256 hex of the agent's 64-hex
-- key, bound at registration (or at the first call that carries one, for PCs from before keys).
CREATE TABLE pcs (
    id {{SERIAL}},
    site_id BIGINT NOT NULL REFERENCES sites (id),
    uid TEXT NOT NULL UNIQUE,
    mac TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    location TEXT NOT NULL DEFAULT '',
    is_activated BIGINT NOT NULL DEFAULT 0,
    client_key_hash TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    last_seen BIGINT,
    last_ip TEXT,
    client_version TEXT
);
CREATE INDEX pcs_site ON pcs (site_id, name);

CREATE TABLE pc_group_members (
    pc_id BIGINT NOT NULL REFERENCES pcs (id),
    group_id BIGINT NOT NULL REFERENCES pc_groups (id),
    PRIMARY KEY (pc_id, group_id)
);
CREATE INDEX pc_group_members_group ON pc_group_members (group_id);

-- Configuration entries of a site, a group or a PC; a PC's effective configuration is
-- site, then its groups by name, then its own (later wins). Keys starting '_' are reported by
-- the agent; read_only marks what the agent owns.
CREATE TABLE config_entries (
    owner_kind TEXT NOT NULL,
    owner_id BIGINT NOT NULL,
    entry_key TEXT NOT NULL,
    entry_value TEXT NOT NULL,
    read_only BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (owner_kind, owner_id, entry_key)
);

-- A script's identity. Its code lives in versions: a new version replaces the old one for new
-- jobs, while batches keep pointing at the version they ran.
CREATE TABLE scripts (
    id {{SERIAL}},
    site_id BIGINT REFERENCES sites (id),
    uid TEXT,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    category TEXT,
    is_security BIGINT NOT NULL DEFAULT 0,
    is_hidden BIGINT NOT NULL DEFAULT 0,
    current_version_id BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX scripts_uid ON scripts (uid);
CREATE INDEX scripts_site ON scripts (site_id);

CREATE TABLE script_versions (
    id {{SERIAL}},
    script_id BIGINT NOT NULL REFERENCES scripts (id),
    version BIGINT NOT NULL,
    executable_code TEXT NOT NULL,
    code_sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (script_id, version)
);

CREATE TABLE script_tags (
    script_id BIGINT NOT NULL REFERENCES scripts (id),
    tag TEXT NOT NULL,
    PRIMARY KEY (script_id, tag)
);

-- value_type: STRING INT DATE FILE BOOLEAN TIME PASSWORD TEXT_FIELD (choices in default_value).
CREATE TABLE inputs (
    script_version_id BIGINT NOT NULL REFERENCES script_versions (id),
    position BIGINT NOT NULL,
    name TEXT NOT NULL,
    value_type TEXT NOT NULL,
    default_value TEXT,
    mandatory BIGINT NOT NULL DEFAULT 1,
    PRIMARY KEY (script_version_id, position)
);

-- Uploaded FILE parameters. Never served by id: agents get per-job, expiring URLs.
CREATE TABLE files (
    id {{SERIAL}},
    site_id BIGINT NOT NULL REFERENCES sites (id),
    name TEXT NOT NULL,
    size BIGINT NOT NULL,
    data {{BLOB}} NOT NULL,
    created_at BIGINT NOT NULL
);

-- One run of a script version on some PCs, with its parameter values.
CREATE TABLE batches (
    id {{SERIAL}},
    site_id BIGINT NOT NULL REFERENCES sites (id),
    script_version_id BIGINT NOT NULL REFERENCES script_versions (id),
    name TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE batch_parameters (
    batch_id BIGINT NOT NULL REFERENCES batches (id),
    position BIGINT NOT NULL,
    value_type TEXT NOT NULL,
    string_value TEXT,
    file_id BIGINT REFERENCES files (id),
    PRIMARY KEY (batch_id, position)
);

-- status: NEW -> SUBMITTED (agent confirmed receipt) -> DONE | FAILED; RESOLVED once restarted.
-- started/finished are the agent's own naive local time strings, kept as sent.
CREATE TABLE jobs (
    id {{SERIAL}},
    batch_id BIGINT NOT NULL REFERENCES batches (id),
    pc_id BIGINT NOT NULL REFERENCES pcs (id),
    site_id BIGINT NOT NULL REFERENCES sites (id),
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    submitted_at BIGINT,
    reported_at BIGINT,
    started TEXT,
    finished TEXT,
    log_output TEXT,
    restarted_as BIGINT
);
CREATE INDEX jobs_pc_status ON jobs (pc_id, status);
CREATE INDEX jobs_site_created ON jobs (site_id, created_at);

-- Unguessable per-job URLs for FILE parameters; valid until expires_at or the job is done.
CREATE TABLE job_file_urls (
    token TEXT PRIMARY KEY,
    job_id BIGINT NOT NULL REFERENCES jobs (id),
    position BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX job_file_urls_job ON job_file_urls (job_id, position);

-- Group policies: scripts that run on a PC when it joins, on all members when added, and
-- again when their parameters change (if the site says so).
CREATE TABLE associated_scripts (
    id {{SERIAL}},
    group_id BIGINT NOT NULL REFERENCES pc_groups (id),
    script_id BIGINT NOT NULL REFERENCES scripts (id),
    position BIGINT NOT NULL,
    UNIQUE (group_id, position)
);

CREATE TABLE associated_script_parameters (
    associated_script_id BIGINT NOT NULL REFERENCES associated_scripts (id),
    position BIGINT NOT NULL,
    string_value TEXT,
    file_id BIGINT REFERENCES files (id),
    PRIMARY KEY (associated_script_id, position)
);

-- Users and the four roles: superuser (users.is_superuser), customer_admin (customer_id),
-- site_admin and site_user (site_id).
CREATE TABLE users (
    id {{SERIAL}},
    username TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    is_superuser BIGINT NOT NULL DEFAULT 0,
    language TEXT NOT NULL DEFAULT 'da',
    created_at BIGINT NOT NULL
);

CREATE TABLE memberships (
    user_id BIGINT NOT NULL REFERENCES users (id),
    customer_id BIGINT REFERENCES customers (id),
    site_id BIGINT REFERENCES sites (id),
    role TEXT NOT NULL
);
CREATE INDEX memberships_user ON memberships (user_id);

-- Security rules (a script runs on the PC) and offline rules (the server watches last_seen).
-- No alert groups means the whole site.
CREATE TABLE security_problems (
    id {{SERIAL}},
    site_id BIGINT NOT NULL REFERENCES sites (id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    level TEXT NOT NULL,
    script_id BIGINT NOT NULL REFERENCES scripts (id),
    created_at BIGINT NOT NULL
);

CREATE TABLE offline_rules (
    id {{SERIAL}},
    site_id BIGINT NOT NULL REFERENCES sites (id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    level TEXT NOT NULL,
    monitor_start TEXT NOT NULL,
    monitor_end TEXT NOT NULL,
    max_offline_minutes BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- rule_kind: 'security' (security_problems) or 'offline' (offline_rules).
CREATE TABLE rule_groups (
    rule_kind TEXT NOT NULL,
    rule_id BIGINT NOT NULL,
    group_id BIGINT NOT NULL REFERENCES pc_groups (id),
    PRIMARY KEY (rule_kind, rule_id, group_id)
);

CREATE TABLE rule_alert_users (
    rule_kind TEXT NOT NULL,
    rule_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id),
    PRIMARY KEY (rule_kind, rule_id, user_id)
);

-- status: NEW, ASSIGNED, RESOLVED. occurred_at is the PC's reported local time read in the
-- portal's time zone; occurred_text keeps what it sent.
CREATE TABLE security_events (
    id {{SERIAL}},
    site_id BIGINT NOT NULL REFERENCES sites (id),
    pc_id BIGINT NOT NULL REFERENCES pcs (id),
    rule_kind TEXT NOT NULL,
    rule_id BIGINT NOT NULL,
    occurred_at BIGINT NOT NULL,
    occurred_text TEXT NOT NULL,
    reported_at BIGINT NOT NULL,
    summary TEXT NOT NULL,
    status TEXT NOT NULL,
    assigned_user_id BIGINT REFERENCES users (id),
    note TEXT NOT NULL DEFAULT '',
    notified_at BIGINT
);
CREATE INDEX security_events_site ON security_events (site_id, status, reported_at);

-- Check-in history, one row per PC per UTC day: a bit per quarter hour with a check-in
-- (q0 for 00:00-11:59, q1 for 12:00-23:59), so availability reports are exact to 15 minutes
-- and the table grows with PCs x days, not with check-ins.
CREATE TABLE checkin_days (
    pc_id BIGINT NOT NULL REFERENCES pcs (id),
    day BIGINT NOT NULL,
    checkins BIGINT NOT NULL,
    q0 BIGINT NOT NULL,
    q1 BIGINT NOT NULL,
    first_at BIGINT NOT NULL,
    last_at BIGINT NOT NULL,
    PRIMARY KEY (pc_id, day)
);

-- What a PC reported about itself, one row per change (client version, IP addresses).
CREATE TABLE pc_reports (
    id {{SERIAL}},
    pc_id BIGINT NOT NULL REFERENCES pcs (id),
    at BIGINT NOT NULL,
    field TEXT NOT NULL,
    value TEXT NOT NULL
);
CREATE INDEX pc_reports_pc ON pc_reports (pc_id, at);

-- Citizen logins. identifier_hash is salted (never the identifier), so the log is no
-- register of people.
CREATE TABLE login_log (
    id {{SERIAL}},
    site_id BIGINT NOT NULL REFERENCES sites (id),
    pc_id BIGINT REFERENCES pcs (id),
    integration TEXT NOT NULL,
    identifier_hash TEXT NOT NULL,
    login_at BIGINT NOT NULL,
    logout_at BIGINT
);
CREATE INDEX login_log_site ON login_log (site_id, login_at);

-- key_sha256: API keys are shown once and stored hashed. A key reads its site; can_write
-- also lets it run scripts, activate PCs and handle events.
CREATE TABLE api_keys (
    id {{SERIAL}},
    site_id BIGINT NOT NULL REFERENCES sites (id),
    key_sha256 TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    can_write BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);

-- Logged-in users' bearer tokens, stored hashed, with an end.
CREATE TABLE sessions (
    token_sha256 TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE audit_log (
    id {{SERIAL}},
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    customer_id BIGINT,
    site_id BIGINT,
    action TEXT NOT NULL,
    target TEXT NOT NULL
);
