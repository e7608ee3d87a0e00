-- A second schedule per integration, for full syncs (which also find
-- deletions), beside the incremental one: an interval or a cron expression
-- (UTC), and when it next runs. Neither set: no scheduled full syncs.
ALTER TABLE integrations ADD COLUMN full_sync_interval_secs BIGINT;
ALTER TABLE integrations ADD COLUMN full_sync_cron TEXT;
ALTER TABLE integrations ADD COLUMN next_full_sync_at BIGINT;
-- Directory integrations (their connector reaches LDAP) get the default a
-- new one gets: a full sync every day. The others keep what they did.
UPDATE integrations SET full_sync_interval_secs = 86400 WHERE provider_id IN
    (SELECT id FROM integration_providers WHERE capabilities_json NOT LIKE '%"ldap":[]%');
