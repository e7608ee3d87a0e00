-- Group members as the directory states them. A connector gives a group's
-- direct members either by external id (`member_by_dn` 0) or by DN
-- (`member_by_dn` 1, normalised by the host into `member_key`); DNs are
-- resolved against the synced users and groups when memberships are
-- rebuilt, so a member synced after its group still counts.
CREATE TABLE directory_group_members (
    integration_id BIGINT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    group_external_id TEXT NOT NULL,
    member_by_dn BIGINT NOT NULL,
    member_key TEXT NOT NULL,
    PRIMARY KEY (integration_id, group_external_id, member_by_dn, member_key)
);
CREATE INDEX directory_group_members_by_key ON directory_group_members (integration_id, member_key);

-- The normalised DN of each user and group, to resolve members by DN.
ALTER TABLE directory_users ADD COLUMN dn_key TEXT;
ALTER TABLE directory_groups ADD COLUMN dn_key TEXT;
CREATE INDEX directory_users_dn_key ON directory_users (integration_id, dn_key);
CREATE INDEX directory_groups_dn_key ON directory_groups (integration_id, dn_key);

-- `directory_memberships` now holds resolved memberships, rebuilt after
-- each sync: direct ones (1) and those through nested groups (0).
ALTER TABLE directory_memberships ADD COLUMN direct BIGINT NOT NULL DEFAULT 1;
CREATE INDEX directory_memberships_by_member ON directory_memberships (integration_id, member_external_id);

-- Direct members given by id before this migration become stated members.
INSERT INTO directory_group_members (integration_id, group_external_id, member_by_dn, member_key)
SELECT integration_id, group_external_id, 0, member_external_id FROM directory_memberships;
