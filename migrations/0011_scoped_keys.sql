-- Scoped keys: a role per key, an optional expiry, revocation that keeps the row (provenance labels
-- stay readable), and the last use (touched at most once a minute). Keys from before this migration
-- could do everything, so they become operator keys.
ALTER TABLE api_keys
    ADD COLUMN role          text NOT NULL DEFAULT 'operator' CHECK (role IN ('operator', 'agent', 'read')),
    ADD COLUMN expires_at    timestamptz,
    ADD COLUMN revoked_at    timestamptz,
    ADD COLUMN last_used_at  timestamptz;
ALTER TABLE api_keys ALTER COLUMN role DROP DEFAULT;  -- from now on every key states its role

-- Sessions of the /ui page: the cookie holds a random id, stored here only as its SHA-256.
-- Deleted on sign-out and when the key is revoked; a session never outlives its key.
CREATE TABLE ui_sessions (
    id_hash     bytea PRIMARY KEY,
    key_id      uuid NOT NULL REFERENCES api_keys ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX ui_sessions_key ON ui_sessions (key_id);

-- Provenance: the key that wrote a task's current version, and each earlier version's writer
-- (task_versions.changed_by is the key that replaced it). Documents, memories and scratchpad
-- entries record theirs in written_by since 0001.
ALTER TABLE tasks ADD COLUMN written_by uuid;
UPDATE tasks SET written_by = created_by;
ALTER TABLE task_versions ADD COLUMN written_by uuid;
UPDATE task_versions v SET written_by = t.created_by FROM tasks t WHERE t.id = v.task_id AND v.version = 1;
