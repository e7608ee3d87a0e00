-- Connectors' per-integration key-value state (the `state` WIT interface).
CREATE TABLE connector_state (
    integration TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    -- key and value bytes, kept so the per-integration quota is one SUM.
    size INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (integration, key)
);
