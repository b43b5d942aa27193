-- pollen-store, PostgreSQL, version 8: replays.
--
-- A replay re-queues the notifications an instance wrote in [since, until) chunk by chunk:
-- `cursor_seq` is the last outbox seq it looked at, `last_seq` the outbox's last seq when it
-- started (later notifications are not part of it). Each chunk is one transaction holding the
-- replay's row (FOR UPDATE), so any process sharing the database advances it, two never take
-- the same chunk, and nothing is held between chunks.
CREATE TABLE replay (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance    TEXT        NOT NULL,
    since       TIMESTAMPTZ NOT NULL,
    until       TIMESTAMPTZ NOT NULL,
    -- JSON arrays of strings; empty: all
    resources   TEXT        NOT NULL,
    event_types TEXT        NOT NULL,
    state       TEXT        NOT NULL CHECK (state IN ('running', 'done', 'cancelled')),
    total       BIGINT      NOT NULL,
    replayed    BIGINT      NOT NULL DEFAULT 0,
    cursor_seq  BIGINT      NOT NULL DEFAULT 0,
    last_seq    BIGINT      NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ
);
CREATE INDEX replay_instance ON replay (instance, id);
CREATE INDEX replay_running ON replay (id) WHERE state = 'running';
