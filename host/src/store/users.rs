//! `users`: local accounts with argon2id password hashes and a role.

use std::fmt;
use std::str::FromStr;

use aes_gcm::aead::{OsRng, rand_core::RngCore};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, now_millis};

/// What a user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages integrations, connectors and users.
    Admin,
    /// Reads dashboards and logs.
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "admin" => Ok(Role::Admin),
            "viewer" => Ok(Role::Viewer),
            other => Err(format!("unknown role `{other}` (admin or viewer)")),
        }
    }
}

/// A local account. The password hash never leaves this module.
#[derive(Clone, Debug, Serialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub created_at: i64,
}

/// Why a user could not be created.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("the user name `{0}` is taken")]
    Taken(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 12;

fn user_from_row(row: &AnyRow) -> User {
    User {
        id: row.get("id"),
        username: row.get("username"),
        role: row.get::<String, _>("role").parse().unwrap_or(Role::Viewer),
        created_at: row.get("created_at"),
    }
}

/// Hashes a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).expect("16 bytes is a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing with default parameters cannot fail")
        .to_string()
}

/// Whether `password` is the one `hash` was made from. Slow on purpose
/// (argon2id, ~19 MiB): the server runs it on its password pool
/// (`crate::web::passwords`), never on an async worker.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash of nothing, verified against when the user does not exist, so a
/// wrong user name takes as long as a wrong password.
pub static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password("no such user, no such password"));

fn validate(username: &str, password: &str) -> Result<(), UserError> {
    let valid_name = !username.is_empty()
        && username.len() <= 64
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if !valid_name {
        return Err(UserError::Invalid(
            "user names are 1 to 64 letters, digits, and . _ - @".into(),
        ));
    }
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(UserError::Invalid(format!(
            "passwords must be at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    Ok(())
}

impl Store {
    /// Creates a local account.
    pub async fn create_user(
        &self,
        username: &str,
        password: &str,
        role: Role,
    ) -> Result<User, UserError> {
        validate(username, password)?;
        let hash = hash_password(password);
        let result = sqlx::query(
            "INSERT INTO users (username, password_hash, role, created_at) VALUES ($1, $2, $3, $4) \
             RETURNING id, username, role, created_at",
        )
        .bind(username)
        .bind(hash)
        .bind(role.as_str())
        .bind(now_millis())
        .fetch_one(self.pool())
        .await;
        match result {
            Ok(row) => Ok(user_from_row(&row)),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(UserError::Taken(username.to_owned()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The user with this name and password, if both match. Verifies on
    /// the calling thread: for tools and tests; the server verifies on its
    /// password pool with [`Self::password_hash_of`].
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, sqlx::Error> {
        let Some((user, hash)) = self.password_hash_of(username).await? else {
            verify_password(password, &DUMMY_HASH);
            return Ok(None);
        };
        Ok(verify_password(password, &hash).then_some(user))
    }

    /// The local account named `username` and its password hash.
    pub async fn password_hash_of(
        &self,
        username: &str,
    ) -> Result<Option<(User, String)>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT id, username, role, created_at, password_hash FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|row| (user_from_row(&row), row.get("password_hash"))))
    }

    /// The local account named `username`.
    pub async fn user_named(&self, username: &str) -> Result<Option<User>, sqlx::Error> {
        let row =
            sqlx::query("SELECT id, username, role, created_at FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.as_ref().map(user_from_row))
    }

    pub async fn user(&self, id: i64) -> Result<Option<User>, sqlx::Error> {
        let row = sqlx::query("SELECT id, username, role, created_at FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(user_from_row))
    }

    pub async fn users(&self) -> Result<Vec<User>, sqlx::Error> {
        let rows =
            sqlx::query("SELECT id, username, role, created_at FROM users ORDER BY username")
                .fetch_all(self.pool())
                .await?;
        Ok(rows.iter().map(user_from_row).collect())
    }

    pub async fn count_users(&self) -> Result<i64, sqlx::Error> {
        Ok(sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) FROM users")
            .fetch_one(self.pool())
            .await?
            .get(0))
    }

    /// Deletes a user; their sessions and personal API tokens go with
    /// them. Refused by the database while they own a service account
    /// ([`Store::service_accounts_owned_by`] says which, for a clear
    /// message).
    pub async fn delete_user(&self, id: i64) -> Result<bool, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        // Explicit, rather than trusting ON DELETE CASCADE alone: SQLite
        // enforces foreign keys only when the pragma is on.
        for table in ["sessions", "api_tokens"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let deleted = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted > 0)
    }

    /// Local admins (not signed in through a directory) other than
    /// `except`: the ones who can still sign in when a directory is down.
    pub async fn count_local_admins_except(&self, except: i64) -> Result<i64, sqlx::Error> {
        Ok(sqlx::query(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM users \
             WHERE role = 'admin' AND directory_integration_id IS NULL AND id <> $1",
        )
        .bind(except)
        .fetch_one(self.pool())
        .await?
        .get(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_their_password() {
        let hash = hash_password("correct horse battery staple");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery staple", &hash));
        assert!(!verify_password("correct horse battery stapler", &hash));
        assert!(!verify_password("anything", "not a hash"));
        assert_ne!(
            hash,
            hash_password("correct horse battery staple"),
            "salted"
        );
    }

    #[test]
    fn names_and_passwords_are_validated() {
        assert!(validate("ada", "long enough password").is_ok());
        assert!(validate("", "long enough password").is_err());
        assert!(validate("a b", "long enough password").is_err());
        assert!(validate("<script>", "long enough password").is_err());
        assert!(validate("ada", "short").is_err());
    }
}
