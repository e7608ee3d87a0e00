-- Workers claim the pending deliveries of enabled integrations: found per
-- integration, so a large backlog kept for a disabled integration costs
-- nothing to skip.
CREATE INDEX webhook_deliveries_by_integration ON webhook_deliveries (integration_id, status, id);
