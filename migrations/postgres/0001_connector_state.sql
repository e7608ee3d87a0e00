-- Connectors' per-integration key-value state (the `state` WIT interface).
CREATE TABLE connector_state (
    integration TEXT NOT NULL,
    -- Byte order, as on SQLite, so prefix ranges behave the same.
    key TEXT COLLATE "C" NOT NULL,
    value BYTEA NOT NULL,
    -- key and value bytes, kept so the per-integration quota is one SUM.
    size BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (integration, key)
);
