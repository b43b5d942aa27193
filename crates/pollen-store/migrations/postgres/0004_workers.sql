-- pollen-store, PostgreSQL, version 4: the worker registry.
--
-- Each pollen process writes a row when it starts and renews its heartbeat every third of its
-- lease ttl. A process whose heartbeat is older than its ttl is dead: the leases and delivery
-- claims it still holds are released (by name, `lease_owner`), so its work is taken up within
-- seconds instead of after the longest poll's timeout.
CREATE TABLE worker (
    id           TEXT        PRIMARY KEY,
    host         TEXT        NOT NULL,
    pid          BIGINT      NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL,
    heartbeat_at TIMESTAMPTZ NOT NULL,
    lease_ttl_ms BIGINT      NOT NULL
);

-- Releasing one worker's poll leases and delivery leases: by owner.
CREATE INDEX poll_state_lease_owner ON poll_state (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX outbox_lease_owner ON outbox (lease_owner) WHERE lease_owner IS NOT NULL;
