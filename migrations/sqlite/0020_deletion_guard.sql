-- The deletion guard (decision 0033): a full sync that would delete more
-- than an integration's threshold holds the deletions for an admin to
-- approve or discard, and its job ends `needs_approval`. And dry runs list
-- what they would do, record by record.
--
-- SQLite cannot change a CHECK constraint in place, so `jobs` and
-- `integration_sync_logs` are rebuilt with the new states. Migrations run
-- in a transaction with foreign keys on, and dropping a table deletes its
-- rows first: the new log table refers to the new jobs table until the old
-- ones are gone, so dropping the old `jobs` clears no log's `job_id`, and
-- renaming `jobs_new` to `jobs` carries the reference along.

CREATE TABLE jobs_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    integration_id INTEGER NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    trigger TEXT NOT NULL,
    mode TEXT NOT NULL,
    dry_run INTEGER NOT NULL DEFAULT 0,
    -- `needs_approval`: ended holding deletions; then `approved`,
    -- `discarded`, or `superseded` by a later full sync.
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed',
        'needs_approval', 'approved', 'discarded', 'superseded')),
    attempts INTEGER NOT NULL DEFAULT 0,
    run_after INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER,
    requested_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    error TEXT,
    cursor TEXT,
    pages_done INTEGER NOT NULL DEFAULT 0,
    error_kind TEXT
);
INSERT INTO jobs_new (id, integration_id, kind, trigger, mode, dry_run, status, attempts, run_after,
    lease_owner, lease_until, requested_by, created_at, started_at, finished_at, error, cursor,
    pages_done, error_kind)
SELECT id, integration_id, kind, trigger, mode, dry_run, status, attempts, run_after,
    lease_owner, lease_until, requested_by, created_at, started_at, finished_at, error, cursor,
    pages_done, error_kind FROM jobs;

CREATE TABLE integration_sync_logs_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Kept when the integration is deleted: history outlives it.
    integration_id INTEGER REFERENCES integrations (id) ON DELETE SET NULL,
    integration_name TEXT NOT NULL,
    job_id INTEGER REFERENCES jobs_new (id) ON DELETE SET NULL,
    -- `sync` or `test`.
    operation TEXT NOT NULL,
    trigger TEXT NOT NULL,
    mode TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'needs_approval')),
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    duration_ms INTEGER,
    records_read INTEGER NOT NULL DEFAULT 0,
    records_created INTEGER NOT NULL DEFAULT 0,
    records_updated INTEGER NOT NULL DEFAULT 0,
    records_deleted INTEGER NOT NULL DEFAULT 0,
    records_failed INTEGER NOT NULL DEFAULT 0,
    -- The outcome in words, secrets scrubbed.
    message TEXT NOT NULL DEFAULT '',
    -- The connector's log lines (JSON array), secrets scrubbed.
    log_json TEXT NOT NULL DEFAULT '[]'
);
INSERT INTO integration_sync_logs_new SELECT id, integration_id, integration_name, job_id, operation,
    trigger, mode, status, started_at, finished_at, duration_ms, records_read, records_created,
    records_updated, records_deleted, records_failed, message, log_json FROM integration_sync_logs;
DROP TABLE integration_sync_logs;
DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;
CREATE INDEX jobs_queue ON jobs (status, run_after);
CREATE INDEX jobs_integration ON jobs (integration_id, status);
ALTER TABLE integration_sync_logs_new RENAME TO integration_sync_logs;
CREATE INDEX integration_sync_logs_started ON integration_sync_logs (started_at);
CREATE INDEX integration_sync_logs_integration ON integration_sync_logs (integration_id, started_at);

-- Each integration's threshold; without a row, the defaults (500 objects,
-- 10 %). 0 turns a limit off.
CREATE TABLE integration_deletion_limits (
    integration_id INTEGER PRIMARY KEY REFERENCES integrations (id) ON DELETE CASCADE,
    max_objects INTEGER NOT NULL,
    max_percent INTEGER NOT NULL
);

-- The deletions a full sync held back, as it found them: at most one set
-- per integration (a later full sync replaces it).
CREATE TABLE pending_deletions (
    integration_id INTEGER NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    held_at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    external_id TEXT NOT NULL,
    name TEXT NOT NULL,
    dn TEXT,
    PRIMARY KEY (integration_id, kind, external_id)
);

-- What a dry run would do, record by record (at most 1,000 listed per
-- job), and how many records of each action and kind in all.
CREATE TABLE dry_run_items (
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
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
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    action TEXT NOT NULL,
    kind TEXT NOT NULL,
    total INTEGER NOT NULL,
    PRIMARY KEY (job_id, action, kind)
);
-- The records a full dry run read, to find what it would delete; emptied
-- when it ends.
CREATE TABLE dry_run_seen (
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    external_id TEXT NOT NULL,
    PRIMARY KEY (job_id, kind, external_id)
);
