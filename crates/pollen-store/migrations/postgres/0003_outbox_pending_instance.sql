-- pollen-store, PostgreSQL, version 3: claims seek per instance instead of walking a backlog.
--
-- A claim skips the instances whose endpoint is at its concurrency limit and takes at most a
-- few notifications of any one instance. With only the global (next_attempt, seq) order, a
-- claim behind a backlog of skipped instances walked all their due rows before it found one
-- to take: O(backlog) per claim. With this index a claim visits each instance with pending
-- rows once (a loose index scan: one seek to the next instance, one to its first claimable
-- rows; its rows leased ahead come first and are stepped over): O(instances with pending
-- rows) seeks per claim, whatever the backlog.
CREATE INDEX outbox_pending_instance ON outbox (instance, next_attempt, seq)
    WHERE status = 'pending';
