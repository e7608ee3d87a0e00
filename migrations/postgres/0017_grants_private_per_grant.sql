-- Allowing private addresses is per HTTP grant (a `private` word after the
-- pattern in the form, `allow_private` per grant in the API). Stored
-- integrations already keep the flag on every grant (`http_grants_json`
-- holds `{"pattern", "allow_private"}` per grant), so they stay as they are.
-- Wizard drafts saved by the old form kept one `allow_private` value for
-- all their grants, which the new form no longer reads: such drafts (a day
-- old at most) are dropped, so that none is saved with its grants silently
-- narrowed; the admin starts the wizard again.
DELETE FROM integration_drafts
WHERE (values_json::jsonb) -> 'allow_private' IS NOT NULL;
