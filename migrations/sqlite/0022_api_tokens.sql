-- Machine access (decision 0035): service accounts, and API tokens that act
-- for a local user (personal) or for a service account.
CREATE TABLE service_accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    -- The admin answerable for it; a user who owns one cannot be deleted.
    owner_id BIGINT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    -- Exactly one of the two: whom the token acts for.
    user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    service_account_id BIGINT REFERENCES service_accounts (id) ON DELETE CASCADE,
    -- Space-separated scopes (read write admin directory:read scim).
    scopes TEXT NOT NULL,
    -- SHA-256 of the token: the token itself is shown once and never stored.
    token_hash TEXT NOT NULL UNIQUE,
    -- The token's first characters, to recognise it in lists and logs.
    hint TEXT NOT NULL,
    requests_per_minute BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT,
    last_used_from TEXT,
    revoked_at BIGINT,
    revoked_by TEXT,
    CHECK ((user_id IS NULL) <> (service_account_id IS NULL))
);
-- A live token's name is unique for whom it acts; a revoked one frees it.
CREATE UNIQUE INDEX api_tokens_user_name ON api_tokens (user_id, name)
    WHERE user_id IS NOT NULL AND revoked_at IS NULL;
CREATE UNIQUE INDEX api_tokens_service_account_name ON api_tokens (service_account_id, name)
    WHERE service_account_id IS NOT NULL AND revoked_at IS NULL;
