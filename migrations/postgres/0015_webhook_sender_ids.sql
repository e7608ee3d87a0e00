-- Deliveries are recognised by what their signature covers (decision 0025):
-- `delivery_id` is an id the signature covers, or the hash of the signed
-- content. The id a sender puts in a header it does not sign
-- (X-GitHub-Delivery, X-Atlassian-Webhook-Identifier, X-Request-Id) is
-- kept here, to find a delivery in the sender's own log; nothing is
-- recognised by it.
ALTER TABLE webhook_deliveries ADD COLUMN sender_id TEXT;
