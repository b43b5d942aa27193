-- pollen-store, PostgreSQL, version 12: retired signing keys of subscriptions.
--
-- A rotation of a subscription's key (`event.notification.subscriptions`) keeps the key it
-- replaced for the grace period like the callback's: `subscription` names it, '' is the
-- instance's Open Connectors callback (every row written before this version).
ALTER TABLE retired_signing_key ADD COLUMN subscription TEXT NOT NULL DEFAULT '';
