//! `sessions`: server-side sign-in sessions, and `failed_logins` for
//! throttling guesses.
//!
//! The cookie carries a random 256-bit token; the table keeps only its
//! SHA-256, so a copy of the database cannot be replayed as a session.
//! Sessions end after an idle period or an absolute lifetime, whichever
//! comes first, when the user signs out everywhere, or with the user.

use aes_gcm::aead::{OsRng, rand_core::RngCore};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::users::User;
use super::{Store, now_millis};

/// How long a session lives without use.
pub const IDLE_TIMEOUT_MS: i64 = 30 * 60 * 1000;
/// How long a session lives at most.
pub const MAX_LIFETIME_MS: i64 = 12 * 60 * 60 * 1000;

/// Failed sign-ins allowed per user name, and per client address, in the window.
pub const MAX_FAILURES_PER_USER: i64 = 5;
pub const MAX_FAILURES_PER_REMOTE: i64 = 20;
pub const FAILURE_WINDOW_MS: i64 = 15 * 60 * 1000;

/// A new random token, URL-safe.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A signed-in session: who, and the token forms must carry.
#[derive(Clone, Debug)]
pub struct Session {
    pub user: User,
    pub csrf_token: String,
}

/// When sign-ins are refused for a while.
#[derive(Debug, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after_ms: i64,
}

impl Store {
    /// Starts a session for `user`; returns the cookie's token.
    pub async fn create_session(&self, user: &User) -> Result<String, sqlx::Error> {
        let token = random_token();
        let now = now_millis();
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, last_seen_at, expires_at) \
             VALUES ($1, $2, $3, $4, $4, $5)",
        )
        .bind(hash_token(&token))
        .bind(user.id)
        .bind(random_token())
        .bind(now)
        .bind(now + MAX_LIFETIME_MS)
        .execute(self.pool())
        .await?;
        Ok(token)
    }

    /// The live session of `token`, refreshing its idle timer; expired
    /// sessions are removed.
    pub async fn session(&self, token: &str) -> Result<Option<Session>, sqlx::Error> {
        let hash = hash_token(token);
        let now = now_millis();
        let row = sqlx::query(
            "SELECT s.csrf_token, s.last_seen_at, s.expires_at, u.id, u.username, u.role, u.created_at \
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1",
        )
        .bind(&hash)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let last_seen: i64 = row.get("last_seen_at");
        let expires: i64 = row.get("expires_at");
        if now >= expires || now - last_seen >= IDLE_TIMEOUT_MS {
            self.end_session(token).await?;
            return Ok(None);
        }
        // Refresh at most once a minute: most requests then only read.
        if now - last_seen > 60_000 {
            sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
                .bind(now)
                .bind(&hash)
                .execute(self.pool())
                .await?;
        }
        Ok(Some(Session {
            user: User {
                id: row.get("id"),
                username: row.get("username"),
                role: row
                    .get::<String, _>("role")
                    .parse()
                    .unwrap_or(super::users::Role::Viewer),
                created_at: row.get("created_at"),
            },
            csrf_token: row.get("csrf_token"),
        }))
    }

    pub async fn end_session(&self, token: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(hash_token(token))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Signs a user out everywhere.
    pub async fn end_sessions_of(&self, user_id: i64) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(self.pool())
            .await?
            .rows_affected())
    }

    /// Moves a session's clock, for tests of expiry.
    #[doc(hidden)]
    pub async fn age_sessions_for_tests(&self, by_ms: i64) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE sessions SET last_seen_at = last_seen_at - $1, expires_at = expires_at - $1, \
             created_at = created_at - $1",
        )
        .bind(by_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Whether sign-ins for `username` or from `remote` are refused now.
    pub async fn login_throttle(
        &self,
        username: &str,
        remote: &str,
    ) -> Result<Option<Throttled>, sqlx::Error> {
        let since = now_millis() - FAILURE_WINDOW_MS;
        for (column, value, max) in [
            ("username", username, MAX_FAILURES_PER_USER),
            ("remote", remote, MAX_FAILURES_PER_REMOTE),
        ] {
            let row = sqlx::query(&format!(
                "SELECT CAST(COUNT(*) AS BIGINT), CAST(COALESCE(MIN(at), 0) AS BIGINT) \
                 FROM failed_logins WHERE {column} = $1 AND at > $2"
            ))
            .bind(value)
            .bind(since)
            .fetch_one(self.pool())
            .await?;
            let (count, oldest): (i64, i64) = (row.get(0), row.get(1));
            if count >= max {
                return Ok(Some(Throttled {
                    retry_after_ms: (oldest + FAILURE_WINDOW_MS - now_millis()).max(1_000),
                }));
            }
        }
        Ok(None)
    }

    pub async fn record_failed_login(
        &self,
        username: &str,
        remote: &str,
    ) -> Result<(), sqlx::Error> {
        let now = now_millis();
        sqlx::query("INSERT INTO failed_logins (username, remote, at) VALUES ($1, $2, $3)")
            .bind(username)
            .bind(remote)
            .bind(now)
            .execute(self.pool())
            .await?;
        // Old rows are useless; drop them as we go.
        sqlx::query("DELETE FROM failed_logins WHERE at < $1")
            .bind(now - FAILURE_WINDOW_MS)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn clear_failed_logins(&self, username: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM failed_logins WHERE username = $1")
            .bind(username)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
