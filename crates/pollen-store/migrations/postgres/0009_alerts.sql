-- pollen-store, PostgreSQL, version 9: operational alerts.
--
-- An alert is derived from the state (see `SqlStore::check_alerts`); it is open at most once
-- per (instance, kind, subject), which the partial unique index enforces (and checks take an
-- advisory lock, so processes sharing the database never race on one). `alert_delivery` is
-- the outbox of the POSTs announcing each opening and resolution, one row per target.

-- A resource's stall deadline: the next poll due after the last completed one (or the first
-- poll's due time), plus 3 refresh intervals. The interval is set by the engine that polls it.
ALTER TABLE poll_state ADD COLUMN poll_interval INTERVAL;
ALTER TABLE poll_state ADD COLUMN completed_due TIMESTAMPTZ;
ALTER TABLE poll_state ADD COLUMN stall_at TIMESTAMPTZ;
UPDATE poll_state SET completed_due = next_due;

-- Each condition is read through an index holding only the rows in that condition.
CREATE INDEX poll_state_stall ON poll_state (stall_at) WHERE stall_at IS NOT NULL AND NOT paused;
CREATE INDEX poll_state_failing ON poll_state (consecutive_failures) WHERE consecutive_failures > 0;
CREATE INDEX outbox_dead ON outbox (instance) WHERE status = 'queued' AND attempts > 0;
CREATE INDEX instance_reauthorization ON instance (id) WHERE status = 'needs_reauthorization';

CREATE TABLE alert (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance    TEXT        NOT NULL,
    kind        TEXT        NOT NULL,
    subject     TEXT        NOT NULL,
    detail      TEXT        NOT NULL,
    opened_at   TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX alert_open ON alert (instance, kind, subject) WHERE resolved_at IS NULL;
CREATE INDEX alert_resolved ON alert (resolved_at) WHERE resolved_at IS NOT NULL;

CREATE TABLE alert_delivery (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id      BIGINT      NOT NULL REFERENCES alert (id) ON DELETE CASCADE,
    event         TEXT        NOT NULL CHECK (event IN ('opened', 'resolved')),
    target        TEXT        NOT NULL CHECK (target IN ('server', 'instance')),
    state         TEXT        NOT NULL CHECK (state IN ('pending', 'delivered', 'failed', 'skipped')),
    attempts      INTEGER     NOT NULL DEFAULT 0,
    next_at       TIMESTAMPTZ NOT NULL,
    last_error    TEXT,
    lease_owner   TEXT,
    lease_expires TIMESTAMPTZ,
    finished_at   TIMESTAMPTZ
);
CREATE INDEX alert_delivery_due ON alert_delivery (next_at) WHERE state = 'pending';
CREATE INDEX alert_delivery_alert ON alert_delivery (alert_id);
CREATE INDEX alert_delivery_lease_owner ON alert_delivery (lease_owner) WHERE lease_owner IS NOT NULL;
