-- Sign-in attempts counted per (account, source address) with exponential
-- backoff, instead of one row per failure counted after the password was
-- checked (decision 0028). `account` is the lower-cased user name, or ''
-- for the row that counts every account's attempts from one source.
CREATE TABLE login_attempts (
    account TEXT NOT NULL,
    source TEXT NOT NULL,
    -- Attempts not (yet) ended by a successful sign-in.
    failures BIGINT NOT NULL,
    -- No attempt is admitted before this (milliseconds since the epoch).
    blocked_until BIGINT NOT NULL,
    last_at BIGINT NOT NULL,
    PRIMARY KEY (account, source)
);
CREATE INDEX login_attempts_last ON login_attempts (last_at);

DROP TABLE failed_logins;
