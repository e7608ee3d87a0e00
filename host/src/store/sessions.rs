//! `sessions`: server-side sign-in sessions (throttling sign-ins is
//! `login_attempts`).
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

    /// Whether the session of `token` is live, without refreshing its idle
    /// timer (for long-lived streams, which must not keep it alive).
    pub async fn session_is_live(&self, token: &str) -> Result<bool, sqlx::Error> {
        let now = now_millis();
        let live: i64 = sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $3",
        )
        .bind(hash_token(token))
        .bind(now)
        .bind(now - IDLE_TIMEOUT_MS)
        .fetch_one(self.pool())
        .await?;
        Ok(live > 0)
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
}
