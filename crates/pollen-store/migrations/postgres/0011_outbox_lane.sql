-- pollen-store, PostgreSQL, version 11: a delivery lane per subscription.
--
-- An instance's notifications go to its Open Connectors callback (lane = the instance id) and
-- to each of its `event.notification.subscriptions` (lane = `instance/name`). Claims, the
-- per-endpoint cap, skip lists and deactivation work per lane, so that one slow or failing
-- receiver never holds back another; `instance` stays for listing, replay and removal.
-- `subscription_inactive.instance` holds lanes from now on (an instance id is its callback's lane).
ALTER TABLE outbox ADD COLUMN lane TEXT;
UPDATE outbox SET lane = instance;
ALTER TABLE outbox ALTER COLUMN lane SET NOT NULL;
DROP INDEX outbox_pending_instance;
-- COLLATE "C": the claim's walk and the replay's range over an instance's lanes compare bytes.
CREATE INDEX outbox_pending_lane ON outbox (lane COLLATE "C", next_attempt, seq)
    WHERE status = 'pending';
