-- Sign-in to the admin UI with directory accounts (issue #8).
--
-- Per directory integration: whether its users may sign in, the synced
-- group whose members (directly or through nested groups) become admins,
-- and the one whose members become viewers.
CREATE TABLE directory_sign_in (
    integration_id BIGINT PRIMARY KEY REFERENCES integrations (id) ON DELETE CASCADE,
    enabled BIGINT NOT NULL DEFAULT 0,
    -- `directory_groups.external_id` of the integration.
    admin_group_external_id TEXT NOT NULL,
    viewer_group_external_id TEXT,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);

-- A user who signed in through a directory: the local row that sessions
-- and the audit log point at. Its `password_hash` is not a password hash
-- (`!`), so it never signs in with a local password; it goes with its
-- integration.
ALTER TABLE users ADD COLUMN directory_integration_id BIGINT REFERENCES integrations (id) ON DELETE CASCADE;
ALTER TABLE users ADD COLUMN directory_external_id TEXT;
CREATE UNIQUE INDEX users_directory_identity ON users (directory_integration_id, directory_external_id);

-- Sign-in names are compared case-insensitively.
CREATE INDEX directory_users_username_lower ON directory_users (LOWER(username));
