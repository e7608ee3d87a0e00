-- Local accounts, their sessions, failed sign-ins, and the audit log.
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    -- argon2id PHC string.
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
    created_at INTEGER NOT NULL
);

CREATE TABLE sessions (
    -- SHA-256 of the cookie's token: a stolen database holds no usable session.
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE failed_logins (
    username TEXT NOT NULL,
    remote TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX failed_logins_username ON failed_logins (username, at);
CREATE INDEX failed_logins_remote ON failed_logins (remote, at);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    -- JSON of the object before and after; never a secret.
    before_json TEXT,
    after_json TEXT,
    remote TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);
