-- pollen-store, PostgreSQL, version 7: rewinding a resource.
--
-- How many times an operator moved the key's watermark back: the notifications of the re-read
-- get ids of their own (the same events and event ids), so they are delivered again.
ALTER TABLE poll_state ADD COLUMN rewinds BIGINT NOT NULL DEFAULT 0;
