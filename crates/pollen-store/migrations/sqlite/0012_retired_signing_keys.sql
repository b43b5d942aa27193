-- pollen-store, SQLite, version 12: signing keys kept for a grace period after a rotation.
--
-- The current key stays in the instance's (encrypted) configuration; a rotation keeps the key
-- it replaced here, AES-256-GCM like every secret, and the sender signs with both until
-- `expires_at`.
CREATE TABLE retired_signing_key (
    id          INTEGER PRIMARY KEY,
    instance_id INTEGER NOT NULL REFERENCES instance (id) ON DELETE CASCADE,
    scheme      TEXT    NOT NULL CHECK (scheme IN ('elements', 'standard-webhooks')),
    key_sealed  BLOB    NOT NULL,
    retired_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX retired_signing_key_instance ON retired_signing_key (instance_id, expires_at);
