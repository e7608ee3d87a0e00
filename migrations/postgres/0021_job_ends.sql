-- A job whose last page is committed has nothing left to read: if its node
-- dies before the job is marked done, the node that takes it over finishes
-- it (deletions of what the full sync did not see, memberships, accounts)
-- without asking the connector for a page past the end.
ALTER TABLE jobs ADD COLUMN read_done BIGINT NOT NULL DEFAULT 0;

-- The deletions an incremental sync was told of (Active Directory's
-- Deleted Objects, a connector's deleted records), staged with the page
-- that stated them and applied, or held for approval, when the job ends
-- (the deletion guard, decision 0033).
CREATE TABLE staged_deletions (
    job_id BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    integration_id BIGINT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    external_id TEXT NOT NULL,
    PRIMARY KEY (job_id, kind, external_id)
);
