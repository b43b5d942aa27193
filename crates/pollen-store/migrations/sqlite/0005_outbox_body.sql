-- pollen-store, SQLite, version 5: notification bodies in their own table.
--
-- A body is written once and never changes, but a claim (the lease) and an outcome update each
-- rewrite their outbox row, and SQLite rewrites a row whole: with the body inside, every
-- delivery rewrote its 1–5 KB body twice (overflow pages included), and every commit wrote
-- those pages to the WAL. Outbox rows are now about 150 bytes; bodies are appended in `seq`
-- order and read once per claim.
CREATE TABLE outbox_body (
    seq  INTEGER PRIMARY KEY REFERENCES outbox (seq) ON DELETE CASCADE,
    body TEXT NOT NULL
);
INSERT INTO outbox_body (seq, body) SELECT seq, body FROM outbox;
ALTER TABLE outbox DROP COLUMN body;
