-- Whether a webhook endpoint answers with the connector's reply (the sender
-- waits for it, like a Slack slash command) or acknowledges as soon as the
-- delivery is stored and leaves processing to the workers (the default:
-- the fastest durable answer).
ALTER TABLE integration_webhooks ADD COLUMN respond_inline BIGINT NOT NULL DEFAULT 0;
