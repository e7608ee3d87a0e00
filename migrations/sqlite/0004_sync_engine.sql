-- The sync engine: retries, resumable jobs, deletions found by full syncs,
-- failing integrations, and durable webhook intake.

-- Where an interrupted job resumes, and why its last attempt failed.
ALTER TABLE jobs ADD COLUMN cursor TEXT;
ALTER TABLE jobs ADD COLUMN pages_done INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN error_kind TEXT;

-- Failed syncs in a row; optionally the count after which the integration
-- is disabled.
ALTER TABLE integrations ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE integrations ADD COLUMN disable_after_failures INTEGER;

-- The job that last saw each record: a complete full sync deletes what it
-- did not see.
ALTER TABLE directory_users ADD COLUMN seen_job INTEGER;
ALTER TABLE directory_groups ADD COLUMN seen_job INTEGER;
ALTER TABLE synced_records ADD COLUMN seen_job INTEGER;

-- How an endpoint's deliveries are signed (`cube-hmac-sha256`,
-- `slack-v0`, `hub-sha256`).
ALTER TABLE integration_webhooks ADD COLUMN scheme TEXT NOT NULL DEFAULT 'cube-hmac-sha256';

-- Every accepted delivery, stored before it is acknowledged, processed
-- once by a worker.
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id INTEGER NOT NULL REFERENCES integration_webhooks (id) ON DELETE CASCADE,
    integration_id INTEGER NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    -- The sender's delivery id, or a hash of the signed content.
    delivery_id TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    query TEXT NOT NULL,
    headers_json TEXT NOT NULL,
    body BLOB NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'processed', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_until INTEGER,
    processed_at INTEGER,
    records INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    UNIQUE (webhook_id, delivery_id)
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (status, id);
