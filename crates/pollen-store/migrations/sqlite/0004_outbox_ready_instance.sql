-- pollen-store, SQLite, version 4: claims seek per instance instead of walking a backlog.
--
-- A claim skips the instances whose endpoint is at its concurrency limit and takes at most a
-- few notifications of any one instance. With only the global (next_attempt, seq) order, a
-- claim behind a backlog of skipped instances walked all their due rows before it found one
-- to take: O(backlog) per claim. This index lets a claim visit each instance with unleased
-- pending rows once (a loose index scan: one seek to the next instance, one to its first due
-- rows), so the cost is O(instances with pending rows) seeks, whatever the backlog. The claim
-- first tries the head of the global order (`outbox_ready`), which answers most claims when
-- nothing is skipped, and falls back to this scan only when the skip list or the per-instance
-- cap leaves too little of that head: thousands of instances with pending rows cost thousands
-- of seeks only in that case.
CREATE INDEX outbox_ready_instance ON outbox (instance, next_attempt, seq)
    WHERE status = 'pending' AND lease_owner IS NULL;
