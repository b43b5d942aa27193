-- pollen-store, PostgreSQL, version 2: paused poll states.
--
-- Pausing an instance (the API's `disabled`, the console's pause, an instance waiting for
-- re-authorization) used to delete its poll states, so a resume polled its whole history again.
-- A paused state keeps its watermark and seen changes and is simply not claimed; registering
-- the key again resumes it.
ALTER TABLE poll_state ADD COLUMN paused BOOLEAN NOT NULL DEFAULT false;
