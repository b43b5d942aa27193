-- pollen-store, PostgreSQL, version 14: checkpoints.
--
-- The latest checkpoint of each chain (one per poll state and checkpointed subscription, ''
-- for the callback): what the next checkpoint follows. Its `to_text` is the next window's
-- `from`, exactly as sent.
CREATE TABLE checkpoint_head (
    state_id     BIGINT NOT NULL REFERENCES poll_state (id) ON DELETE CASCADE,
    subscription TEXT   NOT NULL,
    chain        BYTEA  NOT NULL,
    sequence     BIGINT NOT NULL,
    checkpoint   BYTEA  NOT NULL,
    to_text      TEXT   NOT NULL,
    PRIMARY KEY (state_id, subscription)
);

-- The events written to a checkpointed subscription since its last checkpoint, written with
-- their notifications: the next checkpoint counts them, whichever poll wrote them.
CREATE TABLE checkpoint_event (
    state_id     BIGINT NOT NULL REFERENCES poll_state (id) ON DELETE CASCADE,
    subscription TEXT   NOT NULL,
    event_id     BYTEA  NOT NULL,
    PRIMARY KEY (state_id, subscription, event_id)
);
