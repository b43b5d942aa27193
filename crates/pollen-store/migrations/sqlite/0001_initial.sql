-- pollen-store, SQLite, version 1. Instants are INTEGER microseconds since the Unix epoch (UTC).

-- Per-database values: the secret key's check value.
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

-- Fencing tokens come from one counter, so a token is larger than every token before it for
-- any work, even across unregister/register.
CREATE TABLE counter (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO counter (name, value) VALUES ('fencing_token', 0);

-- One row per (instance, resource).
CREATE TABLE poll_state (
    id                   INTEGER PRIMARY KEY,
    instance             TEXT    NOT NULL,
    resource             TEXT    NOT NULL,
    watermark            INTEGER NOT NULL,
    next_due             INTEGER NOT NULL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_error           TEXT,
    lease_owner          TEXT,
    lease_expires        INTEGER,
    fencing_token        INTEGER NOT NULL DEFAULT 0,
    completed_polls      INTEGER NOT NULL DEFAULT 0,
    -- max(next_due, lease_expires when leased): claimable once this has passed.
    claimable_at         INTEGER NOT NULL,
    UNIQUE (instance, resource)
);
CREATE INDEX poll_state_claimable ON poll_state (claimable_at, instance, resource);

-- De-duplication keys of each poll state.
CREATE TABLE seen_change (
    state_id  INTEGER NOT NULL REFERENCES poll_state (id) ON DELETE CASCADE,
    change_id BLOB    NOT NULL,
    seen_at   INTEGER NOT NULL,
    PRIMARY KEY (state_id, change_id)
) WITHOUT ROWID;
-- Pruning, in a commit (one state) and by age (state by state): one index serves both.
CREATE INDEX seen_change_age ON seen_change (state_id, seen_at);

-- Instances whose subscription is deactivated (absent: active).
CREATE TABLE subscription_inactive (
    instance TEXT PRIMARY KEY
);

CREATE TABLE outbox (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            BLOB    NOT NULL UNIQUE,
    instance      TEXT    NOT NULL,
    resource      TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    -- the event ids, 16 bytes each, concatenated
    event_ids     BLOB    NOT NULL,
    body          TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'queued')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt  INTEGER NOT NULL,
    last_error    TEXT,
    lease_owner   TEXT,
    lease_token   INTEGER,
    lease_expires INTEGER,
    delivered_at  INTEGER
);
CREATE INDEX outbox_pending ON outbox (next_attempt, seq) WHERE status = 'pending';
CREATE INDEX outbox_instance ON outbox (instance, seq);
CREATE INDEX outbox_delivered ON outbox (delivered_at) WHERE status = 'delivered';

-- The delivery log: one row per attempt.
CREATE TABLE delivery_attempt (
    id               INTEGER PRIMARY KEY,
    outbox_seq       INTEGER NOT NULL REFERENCES outbox (seq) ON DELETE CASCADE,
    at               INTEGER NOT NULL,
    status           INTEGER,
    latency_ms       INTEGER NOT NULL,
    error            TEXT,
    response_excerpt TEXT    NOT NULL
);
CREATE INDEX delivery_attempt_outbox ON delivery_attempt (outbox_seq, id);

CREATE TABLE instance (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL,
    element_key   TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    -- JSON array of strings
    tags          TEXT    NOT NULL,
    -- the configuration JSON with every secret replaced by ***
    config_masked TEXT    NOT NULL,
    -- AES-256-GCM of the full configuration JSON
    config_sealed BLOB    NOT NULL,
    -- SHA-256 of the management-API token
    token_hash    BLOB    NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE credential (
    instance_id    INTEGER PRIMARY KEY REFERENCES instance (id) ON DELETE CASCADE,
    -- AES-256-GCM of each token
    access_token   BLOB,
    refresh_token  BLOB,
    expires_at     INTEGER,
    code_exchanged INTEGER NOT NULL DEFAULT 0,
    updated_at     INTEGER NOT NULL
);
