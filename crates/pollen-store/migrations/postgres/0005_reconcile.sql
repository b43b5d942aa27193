-- pollen-store, PostgreSQL, version 5: reconciliation.
--
-- The record ids each poll state knows (those it emitted CREATED or UPDATED for, and those its
-- last id walk found), for resources whose endpoint has no deletion feed: a known id that a
-- later walk misses, and a lookup confirms gone, becomes a DELETED event.
CREATE TABLE known_record (
    state_id  BIGINT NOT NULL REFERENCES poll_state (id) ON DELETE CASCADE,
    record_id TEXT   NOT NULL,
    PRIMARY KEY (state_id, record_id)
);

-- When the state's last reconciliation completed (NULL: never).
ALTER TABLE poll_state ADD COLUMN reconciled_at TIMESTAMPTZ;
