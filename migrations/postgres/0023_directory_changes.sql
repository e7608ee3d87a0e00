-- The directory change feed (decision 0036): one row per change to a
-- synced user, group or membership, written in the transaction that makes
-- the change. Read in (tx_order, id) order, where tx_order is the writing
-- transaction's id: a reader returns only rows of transactions older than
-- every transaction still running, so a row can never appear before one
-- it is ordered after (identity values are taken before commit, in any
-- order across transactions).
CREATE TABLE directory_changes (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tx_order BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    -- No foreign key: deleting an integration is itself a change the feed
    -- must keep.
    integration_id BIGINT NOT NULL,
    -- user | group | membership
    entity TEXT NOT NULL,
    -- created | updated | enabled | disabled | deleted (users, groups);
    -- added | updated | removed (memberships)
    change TEXT NOT NULL,
    -- The user's or group's row id (a membership's group), while it existed.
    entity_id BIGINT,
    external_id TEXT NOT NULL,
    -- Memberships: the member, its row id and kind (user | group), and
    -- whether the membership is direct.
    member_id BIGINT,
    member_external_id TEXT,
    member_kind TEXT,
    direct BIGINT,
    changed_at BIGINT NOT NULL
);
CREATE INDEX directory_changes_order ON directory_changes (tx_order, id);

-- Where the feed's retention has pruned to (a cursor before it answers
-- 410), and how far the webhook relay has turned changes into events.
CREATE TABLE directory_feed (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    pruned_tx BIGINT NOT NULL DEFAULT 0,
    pruned_id BIGINT NOT NULL DEFAULT 0,
    relayed_tx BIGINT NOT NULL DEFAULT 0,
    relayed_id BIGINT NOT NULL DEFAULT 0
);
INSERT INTO directory_feed (id) VALUES (1);

-- The memberships a rebuild computes, compared with the stored ones so
-- that only the differences are written (and reported).
CREATE TABLE directory_memberships_next (
    integration_id BIGINT NOT NULL,
    group_external_id TEXT NOT NULL,
    member_external_id TEXT NOT NULL,
    direct BIGINT NOT NULL,
    PRIMARY KEY (integration_id, group_external_id, member_external_id)
);
CREATE INDEX directory_memberships_next_by_member
    ON directory_memberships_next (integration_id, member_external_id);
