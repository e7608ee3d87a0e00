-- An endpoint can also queue an incremental sync of its integration on each
-- delivery, for senders that only say "something changed".
ALTER TABLE integration_webhooks ADD COLUMN queue_sync INTEGER NOT NULL DEFAULT 0;
