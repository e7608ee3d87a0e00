-- A sync schedule may be a cron expression (UTC) instead of an interval.
ALTER TABLE integrations ADD COLUMN sync_cron TEXT;
