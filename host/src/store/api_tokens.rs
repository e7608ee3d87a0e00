//! `api_tokens` and `service_accounts`: machine access to the JSON API
//! (decision 0035).
//!
//! A token acts for a local user (a personal token) or for a service
//! account (a named non-human principal an admin answers for). It reads
//! `cube_pat_…` or `cube_sat_…`: 256 random bits after a prefix that says
//! what it is, so a leaked one is recognisable by secret scanners. The
//! table keeps only its SHA-256 (the token has too much entropy for a
//! slow hash to add anything) and a short hint to recognise it by; the
//! token itself is shown once, when it is made, and can never be read
//! again.
//!
//! A token never grants more than the role behind it: its scopes are cut
//! down, at every use, to what its user (or the service account's owner)
//! may do now, so demoting an admin disarms their tokens at once.

use std::collections::BTreeSet;

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;

pub use super::service_accounts::ServiceAccount;
use super::sessions::random_token;
pub use super::token_scopes::{Scope, TokenError, parse_scopes};
use super::token_scopes::{role_of, validate_name};
use super::users::{Role, User};
use super::{Store, now_millis};

/// How many requests a minute a token gets unless its maker says otherwise.
pub const DEFAULT_REQUESTS_PER_MINUTE: i64 = 600;
/// The most a token may be given.
pub const MAX_REQUESTS_PER_MINUTE: i64 = 100_000;
/// How stale `last_used_at` may get before a use writes it again: a use
/// is a read, not a write, on the hot path.
const LAST_USED_GRANULARITY_MS: i64 = 60_000;

/// When a token made at `now` expires: `""` or `never` for never, `N` days
/// (`90d`), a date (`2027-01-31`, at 00:00 UTC) or an RFC 3339 time.
pub fn parse_expiry(text: &str, now: i64) -> Result<Option<i64>, TokenError> {
    let text = text.trim();
    if text.is_empty() || text.eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    const DAY_MS: i64 = 24 * 60 * 60 * 1000;
    let at = if let Some(days) = text.strip_suffix('d') {
        let days: i64 = days
            .parse()
            .ok()
            .filter(|d| (1..=3660).contains(d))
            .ok_or_else(|| {
                TokenError::Invalid(format!(
                    "`{text}`: a number of days from 1 to 3660, such as 90d"
                ))
            })?;
        now + days * DAY_MS
    } else if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        date.and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
            .timestamp_millis()
    } else if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        time.timestamp_millis()
    } else {
        return Err(TokenError::Invalid(format!(
            "`{text}` is not an expiry: give days (90d), a date (2027-01-31) or never"
        )));
    };
    if at <= now {
        return Err(TokenError::Invalid(
            "the expiry must be in the future".into(),
        ));
    }
    Ok(Some(at))
}

fn scopes_text(scopes: &BTreeSet<Scope>) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whom a token acts for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TokenOwner {
    /// A personal token of a local user.
    User { id: i64, username: String },
    /// A token of a service account.
    ServiceAccount { id: i64, name: String },
}

impl TokenOwner {
    /// The user's or the service account's name.
    pub fn name(&self) -> &str {
        match self {
            TokenOwner::User { username, .. } => username,
            TokenOwner::ServiceAccount { name, .. } => name,
        }
    }
}

/// A token as lists show it: everything but the secret, which is gone.
#[derive(Clone, Debug, Serialize)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub owner: TokenOwner,
    /// The scopes it was given.
    pub scopes: BTreeSet<Scope>,
    /// The first characters of the token, to recognise it by.
    pub hint: String,
    pub requests_per_minute: i64,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub last_used_from: Option<String>,
    pub revoked_at: Option<i64>,
    pub revoked_by: Option<String>,
}

impl ApiToken {
    /// Neither revoked nor expired at `now`.
    pub fn is_live(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| now < at)
    }

    /// `live`, `expired` or `revoked`, for lists.
    pub fn status(&self, now: i64) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.is_live(now) {
            "live"
        } else {
            "expired"
        }
    }

    /// How the audit log names what this token did: its owner and its own
    /// name, so that two tokens of one owner can be told apart.
    pub fn actor(&self) -> String {
        format!("{} (token {})", self.owner.name(), self.name)
    }
}

/// A live token presented with a request, and what it may do now.
#[derive(Clone, Debug)]
pub struct Authenticated {
    pub token: ApiToken,
    /// The role behind the token now: its user's, or its service
    /// account's owner's.
    pub role: Role,
    /// The user a personal token acts as; `None` for a service account.
    pub user: Option<User>,
}

impl Authenticated {
    /// Whether the token may, now, do what `wanted` allows: one of its
    /// scopes includes it, and the role behind it allows it.
    pub fn allows(&self, wanted: Scope) -> bool {
        wanted.allowed_for(self.role) && self.token.scopes.iter().any(|s| s.includes(wanted))
    }
}

/// What a new token is for.
#[derive(Clone, Copy, Debug)]
pub enum TokenFor<'a> {
    User(&'a User),
    ServiceAccount(&'a ServiceAccount),
}

/// A token to make.
#[derive(Clone, Debug)]
pub struct NewToken<'a> {
    pub name: &'a str,
    pub owner: TokenFor<'a>,
    pub scopes: BTreeSet<Scope>,
    pub expires_at: Option<i64>,
    pub requests_per_minute: i64,
    /// Who made it (an actor name, for the audit log and the list).
    pub created_by: &'a str,
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

const TOKEN_COLUMNS: &str = "t.id, t.name, t.user_id, t.service_account_id, t.scopes, t.hint, \
     t.requests_per_minute, t.created_by, t.created_at, t.expires_at, t.last_used_at, \
     t.last_used_from, t.revoked_at, t.revoked_by, u.username AS user_name, u.role AS user_role, \
     u.created_at AS user_created_at, s.name AS account_name, o.role AS owner_role";

const TOKEN_JOINS: &str = "FROM api_tokens t \
     LEFT JOIN users u ON u.id = t.user_id \
     LEFT JOIN service_accounts s ON s.id = t.service_account_id \
     LEFT JOIN users o ON o.id = s.owner_id";

fn token_from_row(row: &AnyRow) -> ApiToken {
    let owner = match row.get::<Option<i64>, _>("user_id") {
        Some(id) => TokenOwner::User {
            id,
            username: row
                .get::<Option<String>, _>("user_name")
                .unwrap_or_default(),
        },
        None => TokenOwner::ServiceAccount {
            id: row
                .get::<Option<i64>, _>("service_account_id")
                .unwrap_or_default(),
            name: row
                .get::<Option<String>, _>("account_name")
                .unwrap_or_default(),
        },
    };
    ApiToken {
        id: row.get("id"),
        name: row.get("name"),
        owner,
        // Written by this module only, so every word parses.
        scopes: row
            .get::<String, _>("scopes")
            .split(' ')
            .filter_map(|s| s.parse().ok())
            .collect(),
        hint: row.get("hint"),
        requests_per_minute: row.get("requests_per_minute"),
        created_by: row.get("created_by"),
        created_at: row.get("created_at"),
        expires_at: row.get("expires_at"),
        last_used_at: row.get("last_used_at"),
        last_used_from: row.get("last_used_from"),
        revoked_at: row.get("revoked_at"),
        revoked_by: row.get("revoked_by"),
    }
}

impl Store {
    /// Makes a token; returns it and its secret, which is never available
    /// again. Scopes beyond what the owner's role allows are refused.
    pub async fn create_api_token(
        &self,
        new: &NewToken<'_>,
    ) -> Result<(ApiToken, String), TokenError> {
        validate_name("token", new.name)?;
        if new.scopes.is_empty() {
            return Err(TokenError::Invalid(
                "a token needs at least one scope".into(),
            ));
        }
        let (role, prefix, user_id, account_id) = match new.owner {
            TokenFor::User(user) => (user.role, "cube_pat_", Some(user.id), None),
            TokenFor::ServiceAccount(account) => {
                (account.owner_role, "cube_sat_", None, Some(account.id))
            }
        };
        if let Some(scope) = new.scopes.iter().find(|s| !s.allowed_for(role)) {
            return Err(TokenError::Invalid(format!(
                "the scope `{scope}` needs an admin behind the token"
            )));
        }
        let now = now_millis();
        if new.expires_at.is_some_and(|at| at <= now) {
            return Err(TokenError::Invalid(
                "the expiry must be in the future".into(),
            ));
        }
        if !(1..=MAX_REQUESTS_PER_MINUTE).contains(&new.requests_per_minute) {
            return Err(TokenError::Invalid(format!(
                "the rate limit is 1 to {MAX_REQUESTS_PER_MINUTE} requests a minute"
            )));
        }
        let secret = format!("{prefix}{}", random_token());
        let hint = secret[..prefix.len() + 4].to_owned();
        let result = sqlx::query(
            "INSERT INTO api_tokens (name, user_id, service_account_id, scopes, token_hash, hint, \
             requests_per_minute, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(new.name)
        .bind(user_id)
        .bind(account_id)
        .bind(scopes_text(&new.scopes))
        .bind(hash_token(&secret))
        .bind(&hint)
        .bind(new.requests_per_minute)
        .bind(new.created_by)
        .bind(now)
        .bind(new.expires_at)
        .fetch_one(self.pool())
        .await;
        let id: i64 = match result {
            Ok(row) => row.get("id"),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(TokenError::Taken(new.name.to_owned()));
            }
            Err(e) => return Err(e.into()),
        };
        let token = self
            .api_token(id)
            .await?
            .expect("the token was just inserted");
        Ok((token, secret))
    }

    /// Every token, newest first; only those of `user_id` when given
    /// (personal tokens of that user).
    pub async fn api_tokens(&self, user_id: Option<i64>) -> Result<Vec<ApiToken>, sqlx::Error> {
        let sql = match user_id {
            Some(_) => format!(
                "SELECT {TOKEN_COLUMNS} {TOKEN_JOINS} WHERE t.user_id = $1 ORDER BY t.id DESC"
            ),
            None => format!("SELECT {TOKEN_COLUMNS} {TOKEN_JOINS} ORDER BY t.id DESC"),
        };
        let mut query = sqlx::query(&sql);
        if let Some(id) = user_id {
            query = query.bind(id);
        }
        let rows = query.fetch_all(self.pool()).await?;
        Ok(rows.iter().map(token_from_row).collect())
    }

    pub async fn api_token(&self, id: i64) -> Result<Option<ApiToken>, sqlx::Error> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} {TOKEN_JOINS} WHERE t.id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(token_from_row))
    }

    /// Revokes a live token; `None` when there is no such token, the token
    /// unchanged when it was already revoked.
    pub async fn revoke_api_token(
        &self,
        id: i64,
        by: &str,
    ) -> Result<Option<ApiToken>, sqlx::Error> {
        sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1, revoked_by = $2 \
             WHERE id = $3 AND revoked_at IS NULL",
        )
        .bind(now_millis())
        .bind(by)
        .bind(id)
        .execute(self.pool())
        .await?;
        self.api_token(id).await
    }

    /// The live token whose secret is `secret`, used now from `from`;
    /// `None` for anything else (unknown, revoked, expired, malformed).
    pub async fn authenticate_api_token(
        &self,
        secret: &str,
        from: &str,
    ) -> Result<Option<Authenticated>, sqlx::Error> {
        if !(secret.starts_with("cube_pat_") || secret.starts_with("cube_sat_"))
            || secret.len() > 128
        {
            return Ok(None);
        }
        let hash = hash_token(secret);
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} {TOKEN_JOINS} WHERE t.token_hash = $1"
        ))
        .bind(&hash)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let token = token_from_row(&row);
        let now = now_millis();
        if !token.is_live(now) {
            return Ok(None);
        }
        let (role, user) = match &token.owner {
            TokenOwner::User { id, username } => {
                let role = role_of(&row, "user_role");
                let user = User {
                    id: *id,
                    username: username.clone(),
                    role,
                    created_at: row
                        .get::<Option<i64>, _>("user_created_at")
                        .unwrap_or_default(),
                };
                (role, Some(user))
            }
            TokenOwner::ServiceAccount { .. } => (role_of(&row, "owner_role"), None),
        };
        let stale = token
            .last_used_at
            .is_none_or(|at| now - at >= LAST_USED_GRANULARITY_MS);
        if stale || token.last_used_from.as_deref() != Some(from) {
            sqlx::query(
                "UPDATE api_tokens SET last_used_at = $1, last_used_from = $2 WHERE id = $3",
            )
            .bind(now)
            .bind(from)
            .bind(token.id)
            .execute(self.pool())
            .await?;
        }
        Ok(Some(Authenticated { token, role, user }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn expiries_read_as_days_dates_times_or_never() {
        assert_eq!(parse_expiry("", NOW).unwrap(), None);
        assert_eq!(parse_expiry("Never", NOW).unwrap(), None);
        assert_eq!(
            parse_expiry("90d", NOW).unwrap(),
            Some(NOW + 90 * 86_400_000)
        );
        assert_eq!(
            parse_expiry("2030-01-31", NOW).unwrap(),
            Some(1_896_048_000_000)
        );
        assert_eq!(
            parse_expiry("2030-01-31T12:00:00+01:00", NOW).unwrap(),
            Some(1_896_087_600_000)
        );
        for bad in ["0d", "soon", "2020-01-01", "99999d"] {
            assert!(parse_expiry(bad, NOW).is_err(), "{bad}");
        }
    }
}
