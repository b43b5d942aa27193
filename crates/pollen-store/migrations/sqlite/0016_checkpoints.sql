-- pollen-store, SQLite, version 16: checkpoints.
--
-- The latest checkpoint of each chain (one per poll state and checkpointed subscription, ''
-- for the callback): what the next checkpoint follows. Its `to_text` is the next window's
-- `from`, exactly as sent.
CREATE TABLE checkpoint_head (
    state_id     INTEGER NOT NULL REFERENCES poll_state (id) ON DELETE CASCADE,
    subscription TEXT    NOT NULL,
    chain        BLOB    NOT NULL,
    sequence     INTEGER NOT NULL,
    checkpoint   BLOB    NOT NULL,
    to_text      TEXT    NOT NULL,
    PRIMARY KEY (state_id, subscription)
) WITHOUT ROWID;

-- The events written to a checkpointed subscription since its last checkpoint, written with
-- their notifications: the next checkpoint counts them, whichever poll wrote them.
CREATE TABLE checkpoint_event (
    state_id     INTEGER NOT NULL REFERENCES poll_state (id) ON DELETE CASCADE,
    subscription TEXT    NOT NULL,
    event_id     BLOB    NOT NULL,
    PRIMARY KEY (state_id, subscription, event_id)
) WITHOUT ROWID;
