-- Outbound webhooks: subscribers that receive work order events, signed per
-- Standard Webhooks, retried on a schedule, every attempt logged.
CREATE TABLE outbound_webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    url TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    -- The whsec_ signing secret, sealed to this row.
    secret_sealed TEXT NOT NULL,
    -- Event types it receives (JSON array), like ["work_order.created"].
    events_json TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    -- Why it was disabled, when the receiver said 410 Gone.
    disabled_reason TEXT,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- One event for one subscriber, written in the same transaction as the
-- change it reports.
CREATE TABLE outbound_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id INTEGER NOT NULL REFERENCES outbound_webhooks (id) ON DELETE CASCADE,
    -- The webhook-id header: the same on every attempt.
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    -- pending, delivered, failed (gave up) or cancelled (endpoint gone).
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until INTEGER,
    created_at INTEGER NOT NULL,
    delivered_at INTEGER
);

CREATE INDEX outbound_deliveries_due ON outbound_deliveries (status, next_attempt_at);
CREATE INDEX outbound_deliveries_of ON outbound_deliveries (webhook_id, id);

CREATE TABLE outbound_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id INTEGER NOT NULL REFERENCES outbound_deliveries (id) ON DELETE CASCADE,
    attempted_at INTEGER NOT NULL,
    -- The HTTP status, when the receiver answered.
    status_code INTEGER,
    error TEXT,
    duration_ms INTEGER NOT NULL
);

CREATE INDEX outbound_attempts_of ON outbound_attempts (delivery_id, id);
