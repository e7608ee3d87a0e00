-- Comments on work orders, synced both ways: written here (and pushed to
-- every integration that pushes) or brought in from a remote system (and
-- never pushed anywhere, as for work orders: decision 0011).

CREATE TABLE work_order_comments (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    work_order_id BIGINT NOT NULL REFERENCES work_orders (id) ON DELETE CASCADE,
    author TEXT NOT NULL,
    body TEXT NOT NULL,
    -- When it was written (ms): here, or on the remote system.
    created_at BIGINT NOT NULL,
    -- The integration it came from; NULL: written in CUBE.
    source_integration_id BIGINT REFERENCES integrations (id) ON DELETE SET NULL
);

CREATE INDEX work_order_comments_of ON work_order_comments (work_order_id, created_at);

-- The remote comment a comment is linked to, one per integration: the one
-- it was imported from, or the one its push created.
CREATE TABLE work_order_comment_links (
    comment_id BIGINT NOT NULL REFERENCES work_order_comments (id) ON DELETE CASCADE,
    integration_id BIGINT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    external_id TEXT NOT NULL,
    PRIMARY KEY (comment_id, integration_id),
    UNIQUE (integration_id, external_id)
);

-- A push of a comment: in the work order's queue (so it reaches the remote
-- after the work order's own create), never merged with field changes.
ALTER TABLE work_order_pushes ADD COLUMN comment_id BIGINT
    REFERENCES work_order_comments (id) ON DELETE CASCADE;

CREATE INDEX work_order_pushes_comment ON work_order_pushes (comment_id);
