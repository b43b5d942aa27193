-- pollen-store, PostgreSQL, version 1.

-- Per-database values: the secret key's check value.
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

-- Fencing tokens: one sequence, so a token is larger than every token before it.
CREATE SEQUENCE fencing_token;

-- One row per (instance, resource).
CREATE TABLE poll_state (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance             TEXT        NOT NULL,
    resource             TEXT        NOT NULL,
    watermark            TIMESTAMPTZ NOT NULL,
    next_due             TIMESTAMPTZ NOT NULL,
    consecutive_failures INTEGER     NOT NULL DEFAULT 0,
    last_error           TEXT,
    lease_owner          TEXT,
    lease_expires        TIMESTAMPTZ,
    fencing_token        BIGINT      NOT NULL DEFAULT 0,
    completed_polls      BIGINT      NOT NULL DEFAULT 0,
    -- greatest(next_due, lease_expires when leased): claimable once this has passed.
    claimable_at         TIMESTAMPTZ NOT NULL,
    UNIQUE (instance, resource)
);
CREATE INDEX poll_state_claimable ON poll_state (claimable_at, instance, resource);

-- De-duplication keys of each poll state.
CREATE TABLE seen_change (
    state_id  BIGINT      NOT NULL REFERENCES poll_state (id) ON DELETE CASCADE,
    change_id BYTEA       NOT NULL,
    seen_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (state_id, change_id)
);
-- Pruning, in a commit (one state) and by age (state by state): one index serves both.
CREATE INDEX seen_change_age ON seen_change (state_id, seen_at);

-- Instances whose subscription is deactivated (absent: active).
CREATE TABLE subscription_inactive (
    instance TEXT PRIMARY KEY
);

CREATE TABLE outbox (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            BYTEA       NOT NULL UNIQUE,
    instance      TEXT        NOT NULL,
    resource      TEXT        NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    -- the event ids, 16 bytes each, concatenated
    event_ids     BYTEA       NOT NULL,
    body          TEXT        NOT NULL,
    status        TEXT        NOT NULL CHECK (status IN ('pending', 'delivered', 'queued')),
    attempts      INTEGER     NOT NULL DEFAULT 0,
    next_attempt  TIMESTAMPTZ NOT NULL,
    last_error    TEXT,
    lease_owner   TEXT,
    lease_token   BIGINT,
    lease_expires TIMESTAMPTZ,
    delivered_at  TIMESTAMPTZ
);
CREATE INDEX outbox_pending ON outbox (next_attempt, seq) WHERE status = 'pending';
CREATE INDEX outbox_instance ON outbox (instance, seq);
CREATE INDEX outbox_delivered ON outbox (delivered_at) WHERE status = 'delivered';

-- The delivery log: one row per attempt.
CREATE TABLE delivery_attempt (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outbox_seq       BIGINT      NOT NULL REFERENCES outbox (seq) ON DELETE CASCADE,
    at               TIMESTAMPTZ NOT NULL,
    status           INTEGER,
    latency_ms       BIGINT      NOT NULL,
    error            TEXT,
    response_excerpt TEXT        NOT NULL
);
CREATE INDEX delivery_attempt_outbox ON delivery_attempt (outbox_seq, id);

CREATE TABLE instance (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          TEXT        NOT NULL,
    element_key   TEXT        NOT NULL,
    status        TEXT        NOT NULL,
    -- JSON array of strings
    tags          TEXT        NOT NULL,
    -- the configuration JSON with every secret replaced by ***
    config_masked TEXT        NOT NULL,
    -- AES-256-GCM of the full configuration JSON
    config_sealed BYTEA       NOT NULL,
    -- SHA-256 of the management-API token
    token_hash    BYTEA       NOT NULL UNIQUE,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE credential (
    instance_id    BIGINT PRIMARY KEY REFERENCES instance (id) ON DELETE CASCADE,
    -- AES-256-GCM of each token
    access_token   BYTEA,
    refresh_token  BYTEA,
    expires_at     TIMESTAMPTZ,
    code_exchanged BOOLEAN     NOT NULL DEFAULT FALSE,
    updated_at     TIMESTAMPTZ NOT NULL
);
