-- pollen-store, SQLite, version 2: claims find due notifications without walking leased ones.
--
-- A claim wants pending, unleased rows in (next_attempt, seq) order, minus the instances the
-- sender skips. The old index (next_attempt, seq) WHERE status = 'pending' also held every
-- leased row (a sender keeps thousands leased ahead), and checking a row's lease or instance
-- meant a lookup in the table: each claim walked past all of them. Unleased rows now have
-- their own index, covering the instance; leased rows are found by lease expiry only (rare:
-- a worker died or stalled).
DROP INDEX outbox_pending;
CREATE INDEX outbox_ready ON outbox (next_attempt, seq, instance)
    WHERE status = 'pending' AND lease_owner IS NULL;
CREATE INDEX outbox_leased ON outbox (lease_expires)
    WHERE status = 'pending' AND lease_owner IS NOT NULL;
