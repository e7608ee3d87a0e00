-- SCIM 2.0 clients (decision 0037). Each client (the owner of a `scim`
-- token: a user or a service account) provisions into an integration of
-- its own, made on its first request, so SCIM-provisioned identities live
-- in the same directory store as synced ones and are told apart by their
-- integration. The provider row names that kind of integration: it runs
-- no connector, the host itself is the other end.
INSERT INTO integration_providers (id, name, version, description, digest, config_schema,
    capabilities_json, features, first_seen_at, updated_at)
VALUES ('scim', 'SCIM 2.0 client', '1', 'Users and groups provisioned into the host by a SCIM 2.0 client (Entra ID, Okta, ...) through /scim/v2.',
    'built-in', '{}', '{"http":[],"ldap":[]}', '', 0, 0)
ON CONFLICT (id) DO NOTHING;

CREATE TABLE scim_clients (
    integration_id INTEGER PRIMARY KEY REFERENCES integrations (id) ON DELETE CASCADE,
    -- `user:<id>` or `service_account:<id>`: the token owner.
    owner TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

