-- The deletion guard (decision 0033): a full sync that would delete more
-- than an integration's threshold holds the deletions for an admin to
-- approve or discard, and its job ends `needs_approval`. And dry runs list
-- what they would do, record by record.

-- `needs_approval`: ended holding deletions; then `approved`, `discarded`,
-- or `superseded` by a later full sync.
ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check CHECK (status IN ('queued', 'running', 'succeeded',
    'failed', 'needs_approval', 'approved', 'discarded', 'superseded'));
ALTER TABLE integration_sync_logs DROP CONSTRAINT integration_sync_logs_status_check;
ALTER TABLE integration_sync_logs ADD CONSTRAINT integration_sync_logs_status_check
    CHECK (status IN ('running', 'succeeded', 'failed', 'needs_approval'));

-- Each integration's threshold; without a row, the defaults (500 objects,
-- 10 %). 0 turns a limit off.
CREATE TABLE integration_deletion_limits (
    integration_id BIGINT PRIMARY KEY REFERENCES integrations (id) ON DELETE CASCADE,
    max_objects BIGINT NOT NULL,
    max_percent BIGINT NOT NULL
);

-- The deletions a full sync held back, as it found them: at most one set
-- per integration (a later full sync replaces it).
CREATE TABLE pending_deletions (
    integration_id BIGINT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    job_id BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    held_at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    external_id TEXT NOT NULL,
    name TEXT NOT NULL,
    dn TEXT,
    PRIMARY KEY (integration_id, kind, external_id)
);

-- What a dry run would do, record by record (at most 1,000 listed per
-- job), and how many records of each action and kind in all.
CREATE TABLE dry_run_items (
    job_id BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    -- `create`, `update`, `disable` or `delete`.
    action TEXT NOT NULL,
    kind TEXT NOT NULL,
    external_id TEXT NOT NULL,
    name TEXT NOT NULL,
    -- The fields that change: [{"field", "old", "new"}], secrets hidden.
    changes_json TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (job_id, seq)
);
CREATE TABLE dry_run_totals (
    job_id BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    action TEXT NOT NULL,
    kind TEXT NOT NULL,
    total BIGINT NOT NULL,
    PRIMARY KEY (job_id, action, kind)
);
-- The records a full dry run read, to find what it would delete; emptied
-- when it ends.
CREATE TABLE dry_run_seen (
    job_id BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    external_id TEXT NOT NULL,
    PRIMARY KEY (job_id, kind, external_id)
);
