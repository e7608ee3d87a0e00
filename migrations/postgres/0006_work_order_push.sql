-- Two-way work order sync: a work order can be linked to several remote
-- systems (a Jira issue and a ServiceNow incident), and local changes reach
-- them through a transactional outbox.

-- One row per (work order, integration): the remote item it is linked to
-- and the last version both sides agree on (returned by a push, or read by
-- a sync or webhook). A remote record carrying that version again is our
-- own write coming back, and is not applied.
CREATE TABLE work_order_links (
    work_order_id BIGINT NOT NULL REFERENCES work_orders (id) ON DELETE CASCADE,
    integration_id BIGINT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    external_id TEXT NOT NULL,
    version TEXT,
    -- When the remote side last changed it, as the remote reported (ms).
    remote_updated_at BIGINT,
    linked_at BIGINT NOT NULL,
    PRIMARY KEY (work_order_id, integration_id),
    UNIQUE (integration_id, external_id)
);

INSERT INTO work_order_links (work_order_id, integration_id, external_id, version, linked_at)
    SELECT id, integration_id, external_id, external_version, updated_at FROM work_orders
    WHERE integration_id IS NOT NULL AND external_id IS NOT NULL;

-- Local changes waiting to be pushed, one row per (work order, integration)
-- while pending: later changes merge their fields into it. Written in the
-- same transaction as the change itself, so no change is lost.
CREATE TABLE work_order_pushes (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    work_order_id BIGINT,
    integration_id BIGINT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    -- create, update or delete.
    operation TEXT NOT NULL,
    -- The names of the fields changed locally (JSON array).
    changed_fields_json TEXT NOT NULL,
    -- For a delete: the fields as they were (the row is gone).
    fields_json TEXT,
    -- pending, running, done or failed.
    status TEXT NOT NULL DEFAULT 'pending',
    attempts BIGINT NOT NULL DEFAULT 0,
    run_after BIGINT NOT NULL,
    lease_until BIGINT,
    error TEXT,
    -- When the local change was made (the latest one merged in), in ms:
    -- the conflict rule compares it with the remote's change time.
    changed_at BIGINT NOT NULL,
    finished_at BIGINT
);

CREATE INDEX work_order_pushes_due ON work_order_pushes (status, run_after);
CREATE INDEX work_order_pushes_of ON work_order_pushes (work_order_id, integration_id, status);
