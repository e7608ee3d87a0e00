-- Integrations and everything hanging off them: the original module's five
-- tables (providers, integrations, mappings, sync logs, webhooks), the sync
-- jobs, wizard drafts, and the local copies of what syncs bring in.

-- The connectors this database has seen, as of their last load. Integrations
-- point here so that their connector's identity survives a restart.
CREATE TABLE integration_providers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    description TEXT NOT NULL,
    digest TEXT NOT NULL,
    config_schema TEXT NOT NULL,
    capabilities_json TEXT NOT NULL,
    features TEXT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE integrations (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    provider_id TEXT NOT NULL REFERENCES integration_providers (id),
    enabled BIGINT NOT NULL DEFAULT 1,
    -- The configuration without its secret fields (JSON object).
    config_json TEXT NOT NULL,
    -- The secret fields, each sealed (AES-256-GCM) to this row and field.
    secrets_json TEXT NOT NULL,
    http_grants_json TEXT NOT NULL,
    ldap_grants_json TEXT NOT NULL,
    -- Seconds between scheduled syncs; NULL syncs on demand only.
    sync_interval_secs BIGINT,
    -- Where the next incremental sync starts.
    sync_cursor TEXT,
    last_sync_at BIGINT,
    last_sync_status TEXT,
    next_sync_at BIGINT,
    last_test_at BIGINT,
    last_test_ok BIGINT,
    last_test_message TEXT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE integration_mappings (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    integration_id BIGINT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    -- The record kind the mapping applies to (`user`, `work-order`).
    kind TEXT NOT NULL,
    source_field TEXT NOT NULL,
    target_field TEXT NOT NULL,
    -- An optional minijinja expression computing the target value.
    transform TEXT,
    position BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX integration_mappings_integration ON integration_mappings (integration_id, position);

CREATE TABLE integration_webhooks (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    integration_id BIGINT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    -- The random path segment of the endpoint URL.
    token TEXT NOT NULL UNIQUE,
    -- The signing secret, sealed to this row.
    secret_sealed TEXT NOT NULL,
    description TEXT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    last_received_at BIGINT
);

CREATE TABLE jobs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    integration_id BIGINT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    trigger TEXT NOT NULL,
    mode TEXT NOT NULL,
    dry_run BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    attempts BIGINT NOT NULL DEFAULT 0,
    run_after BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    requested_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    error TEXT
);
CREATE INDEX jobs_queue ON jobs (status, run_after);
CREATE INDEX jobs_integration ON jobs (integration_id, status);

CREATE TABLE integration_sync_logs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Kept when the integration is deleted: history outlives it.
    integration_id BIGINT REFERENCES integrations (id) ON DELETE SET NULL,
    integration_name TEXT NOT NULL,
    job_id BIGINT REFERENCES jobs (id) ON DELETE SET NULL,
    -- `sync` or `test`.
    operation TEXT NOT NULL,
    trigger TEXT NOT NULL,
    mode TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    duration_ms BIGINT,
    records_read BIGINT NOT NULL DEFAULT 0,
    records_created BIGINT NOT NULL DEFAULT 0,
    records_updated BIGINT NOT NULL DEFAULT 0,
    records_deleted BIGINT NOT NULL DEFAULT 0,
    records_failed BIGINT NOT NULL DEFAULT 0,
    -- The outcome in words, secrets scrubbed.
    message TEXT NOT NULL DEFAULT '',
    -- The connector's log lines (JSON array), secrets scrubbed.
    log_json TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX integration_sync_logs_started ON integration_sync_logs (started_at);
CREATE INDEX integration_sync_logs_integration ON integration_sync_logs (integration_id, started_at);

-- What a wizard has gathered so far, per user, until it is saved.
CREATE TABLE integration_drafts (
    id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider_id TEXT NOT NULL,
    step BIGINT NOT NULL,
    values_json TEXT NOT NULL,
    secrets_json TEXT NOT NULL,
    -- SHA-256 of the configuration whose connection test passed.
    tested_digest TEXT,
    -- The latest connection test's verdict (JSON), secrets scrubbed.
    verdict_json TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE work_orders (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    priority TEXT NOT NULL,
    assignee TEXT,
    requester TEXT,
    due_at BIGINT,
    -- Where it came from, when a sync brought it in.
    integration_id BIGINT REFERENCES integrations (id) ON DELETE SET NULL,
    external_id TEXT,
    external_version TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (integration_id, external_id)
);

CREATE TABLE directory_users (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    integration_id BIGINT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    external_id TEXT NOT NULL,
    username TEXT NOT NULL,
    email TEXT,
    display_name TEXT,
    enabled BIGINT NOT NULL DEFAULT 1,
    dn TEXT,
    attributes_json TEXT NOT NULL,
    version TEXT,
    synced_at BIGINT NOT NULL,
    UNIQUE (integration_id, external_id)
);

CREATE TABLE directory_groups (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    integration_id BIGINT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    external_id TEXT NOT NULL,
    name TEXT NOT NULL,
    dn TEXT,
    attributes_json TEXT NOT NULL,
    version TEXT,
    synced_at BIGINT NOT NULL,
    UNIQUE (integration_id, external_id)
);

CREATE TABLE directory_memberships (
    integration_id BIGINT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    group_external_id TEXT NOT NULL,
    member_external_id TEXT NOT NULL,
    PRIMARY KEY (integration_id, group_external_id, member_external_id)
);

-- Records of kinds the host has no table of its own for.
CREATE TABLE synced_records (
    integration_id BIGINT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    external_id TEXT NOT NULL,
    fields_json TEXT NOT NULL,
    version TEXT,
    synced_at BIGINT NOT NULL,
    PRIMARY KEY (integration_id, kind, external_id)
);
