-- The directory change feed (decision 0036): one row per change to a
-- synced user, group or membership, written in the transaction that makes
-- the change. Read in (tx_order, id) order; on SQLite writers take turns,
-- so tx_order stays 0 and the id alone is commit order.
CREATE TABLE directory_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tx_order INTEGER NOT NULL DEFAULT 0,
    -- No foreign key: deleting an integration is itself a change the feed
    -- must keep.
    integration_id INTEGER NOT NULL,
    -- user | group | membership
    entity TEXT NOT NULL,
    -- created | updated | enabled | disabled | deleted (users, groups);
    -- added | updated | removed (memberships)
    change TEXT NOT NULL,
    -- The user's or group's row id (a membership's group), while it existed.
    entity_id INTEGER,
    external_id TEXT NOT NULL,
    -- Memberships: the member, its row id and kind (user | group), and
    -- whether the membership is direct.
    member_id INTEGER,
    member_external_id TEXT,
    member_kind TEXT,
    direct INTEGER,
    changed_at INTEGER NOT NULL
);
CREATE INDEX directory_changes_order ON directory_changes (tx_order, id);

-- Where the feed's retention has pruned to (a cursor before it answers
-- 410), and how far the webhook relay has turned changes into events.
CREATE TABLE directory_feed (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    pruned_tx INTEGER NOT NULL DEFAULT 0,
    pruned_id INTEGER NOT NULL DEFAULT 0,
    relayed_tx INTEGER NOT NULL DEFAULT 0,
    relayed_id INTEGER NOT NULL DEFAULT 0
);
INSERT INTO directory_feed (id) VALUES (1);

-- The memberships a rebuild computes, compared with the stored ones so
-- that only the differences are written (and reported).
CREATE TABLE directory_memberships_next (
    integration_id INTEGER NOT NULL,
    group_external_id TEXT NOT NULL,
    member_external_id TEXT NOT NULL,
    direct INTEGER NOT NULL,
    PRIMARY KEY (integration_id, group_external_id, member_external_id)
);
CREATE INDEX directory_memberships_next_by_member
    ON directory_memberships_next (integration_id, member_external_id);
