-- pollen-store, SQLite, version 15: a replay to one receiver.
--
-- `lane` names the one delivery lane a replay re-sends (the instance id: its Open Connectors
-- callback; `instance/name`: a subscription); NULL, as for every replay before, is all of them.
ALTER TABLE replay ADD COLUMN lane TEXT;
