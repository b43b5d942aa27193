-- pollen-store, SQLite, version 10: replays.
--
-- A replay re-queues the notifications an instance wrote in [since, until) chunk by chunk:
-- `cursor_seq` is the last outbox seq it looked at, `last_seq` the outbox's last seq when it
-- started (later notifications are not part of it). Each chunk is one transaction, so any
-- process sharing the database advances it and nothing is held between chunks.
CREATE TABLE replay (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    instance    TEXT    NOT NULL,
    since       INTEGER NOT NULL,
    until       INTEGER NOT NULL,
    -- JSON arrays of strings; empty: all
    resources   TEXT    NOT NULL,
    event_types TEXT    NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('running', 'done', 'cancelled')),
    total       INTEGER NOT NULL,
    replayed    INTEGER NOT NULL DEFAULT 0,
    cursor_seq  INTEGER NOT NULL DEFAULT 0,
    last_seq    INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX replay_instance ON replay (instance, id);
CREATE INDEX replay_running ON replay (id) WHERE state = 'running';
