-- pollen-store, SQLite, version 13: a delivery lane per subscription.
--
-- An instance's notifications go to its Open Connectors callback (lane = the instance id) and
-- to each of its `event.notification.subscriptions` (lane = `instance/name`). Claims, the
-- per-endpoint cap, skip lists and deactivation work per lane, so that one slow or failing
-- receiver never holds back another; `instance` stays for listing, replay and removal.
-- `subscription_inactive.instance` holds lanes from now on (an instance id is its callback's lane).
ALTER TABLE outbox ADD COLUMN lane TEXT NOT NULL DEFAULT '';
UPDATE outbox SET lane = instance;
DROP INDEX outbox_ready;
CREATE INDEX outbox_ready ON outbox (next_attempt, seq, lane)
    WHERE status = 'pending' AND lease_owner IS NULL;
DROP INDEX outbox_ready_instance;
CREATE INDEX outbox_ready_lane ON outbox (lane, next_attempt, seq)
    WHERE status = 'pending' AND lease_owner IS NULL;
