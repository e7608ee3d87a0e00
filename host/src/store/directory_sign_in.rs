//! Sign-in to the admin UI with directory accounts: each directory
//! integration's settings (`directory_sign_in`), the synced user a typed
//! name stands for, and the local account (`users` row) a directory user
//! gets when they sign in.
//!
//! The role comes from the synced, *effective* memberships
//! (`directory_memberships`: direct or through nested groups): the admin
//! group first, then the viewer group. The password itself is checked
//! live against the directory by `crate::integrations::directory_bind`;
//! nothing here ever sees it.
//!
//! A directory user's local account has `directory_integration_id` and
//! `directory_external_id` set and `!` as its password hash, which no
//! password verifies: it exists only for sessions and the audit log.

use serde::Serialize;
use sqlx::Row;

use super::users::{Role, User};
use super::{Store, now_millis};

/// What `users.password_hash` holds for a directory user: not a PHC
/// string, so [`Store::authenticate`] never accepts any password for it.
pub const NO_LOCAL_PASSWORD: &str = "!";

/// The connector whose integrations can sign users in.
pub const DIRECTORY_CONNECTOR: &str = "active-directory";

/// One integration's directory sign-in settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DirectorySignInSettings {
    pub integration_id: i64,
    pub enabled: bool,
    /// The synced group (external id) whose members sign in as admins.
    pub admin_group_external_id: String,
    /// The synced group whose members sign in as viewers, if any.
    pub viewer_group_external_id: Option<String>,
    /// Whether sign-in may send passwords over an integration without TLS
    /// (`tls: none`), where they cross the network in clear.
    pub allow_plaintext: bool,
    pub updated_at: i64,
    pub updated_by: String,
}

/// A synced group, as the settings form offers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupChoice {
    pub external_id: String,
    pub name: String,
    pub dn: Option<String>,
}

/// A synced user of a sign-in-enabled integration whose name matches the
/// one typed, with the role their memberships give.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignInCandidate {
    pub integration_id: i64,
    pub integration_name: String,
    pub external_id: String,
    pub username: String,
    /// The entry's DN, the bind name.
    pub dn: Option<String>,
    /// False when the last sync found the account disabled.
    pub enabled: bool,
    /// `None`: in neither group.
    pub role: Option<Role>,
    /// The integration's sign-in may bind without TLS.
    pub allow_plaintext: bool,
}

/// What [`Store::reconcile_directory_accounts`] changed for one account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountChange {
    pub user_id: i64,
    pub username: String,
    pub before: Role,
    /// `None`: the account may no longer sign in; its sessions ended.
    pub after: Option<Role>,
    /// Why, for the audit log.
    pub reason: String,
    pub sessions_ended: u64,
}

/// Why settings or an account could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum DirectorySignInError {
    #[error("{0}")]
    Invalid(String),
    /// Another account (a local one, or another directory's user) has the
    /// name, compared case-insensitively.
    #[error("the user name `{0}` belongs to another account")]
    NameTaken(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The most groups the settings form lists.
const MAX_GROUP_CHOICES: i64 = 5000;

impl Store {
    /// The directory sign-in settings of an integration, if ever saved.
    pub async fn directory_sign_in_settings(
        &self,
        integration_id: i64,
    ) -> Result<Option<DirectorySignInSettings>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT integration_id, enabled, admin_group_external_id, viewer_group_external_id, \
             allow_plaintext, updated_at, updated_by FROM directory_sign_in WHERE integration_id = $1",
        )
        .bind(integration_id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| {
            Ok(DirectorySignInSettings {
                integration_id: row.try_get("integration_id")?,
                enabled: row.try_get::<i64, _>("enabled")? != 0,
                admin_group_external_id: row.try_get("admin_group_external_id")?,
                viewer_group_external_id: row.try_get("viewer_group_external_id")?,
                allow_plaintext: row.try_get::<i64, _>("allow_plaintext")? != 0,
                updated_at: row.try_get("updated_at")?,
                updated_by: row.try_get("updated_by")?,
            })
        })
        .transpose()
    }

    /// Saves an integration's directory sign-in settings. The groups must
    /// be synced groups of that integration, and differ.
    pub async fn set_directory_sign_in_settings(
        &self,
        integration_id: i64,
        enabled: bool,
        admin_group_external_id: &str,
        viewer_group_external_id: Option<&str>,
        allow_plaintext: bool,
        updated_by: &str,
    ) -> Result<DirectorySignInSettings, DirectorySignInError> {
        let provider: Option<String> =
            sqlx::query_scalar("SELECT provider_id FROM integrations WHERE id = $1")
                .bind(integration_id)
                .fetch_optional(self.pool())
                .await?;
        match provider.as_deref() {
            Some(DIRECTORY_CONNECTOR) => {}
            Some(_) => {
                return Err(DirectorySignInError::Invalid(format!(
                    "only {DIRECTORY_CONNECTOR} integrations can sign users in"
                )));
            }
            None => {
                return Err(DirectorySignInError::Invalid(
                    "no such integration".to_owned(),
                ));
            }
        }
        if viewer_group_external_id == Some(admin_group_external_id) {
            return Err(DirectorySignInError::Invalid(
                "the admin group and the viewer group must differ".to_owned(),
            ));
        }
        for (what, group) in [
            ("admin", Some(admin_group_external_id)),
            ("viewer", viewer_group_external_id),
        ] {
            let Some(group) = group else { continue };
            let known: i64 = sqlx::query_scalar(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM directory_groups \
                 WHERE integration_id = $1 AND external_id = $2",
            )
            .bind(integration_id)
            .bind(group)
            .fetch_one(self.pool())
            .await?;
            if known == 0 {
                return Err(DirectorySignInError::Invalid(format!(
                    "the {what} group is not a synced group of this integration"
                )));
            }
        }
        let now = now_millis();
        sqlx::query(
            "INSERT INTO directory_sign_in (integration_id, enabled, admin_group_external_id, \
             viewer_group_external_id, allow_plaintext, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (integration_id) DO UPDATE SET enabled = excluded.enabled, \
             admin_group_external_id = excluded.admin_group_external_id, \
             viewer_group_external_id = excluded.viewer_group_external_id, \
             allow_plaintext = excluded.allow_plaintext, \
             updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        )
        .bind(integration_id)
        .bind(enabled as i64)
        .bind(admin_group_external_id)
        .bind(viewer_group_external_id)
        .bind(allow_plaintext as i64)
        .bind(now)
        .bind(updated_by)
        .execute(self.pool())
        .await?;
        Ok(DirectorySignInSettings {
            integration_id,
            enabled,
            admin_group_external_id: admin_group_external_id.to_owned(),
            viewer_group_external_id: viewer_group_external_id.map(str::to_owned),
            allow_plaintext,
            updated_at: now,
            updated_by: updated_by.to_owned(),
        })
    }

    /// An integration's synced groups by name, for the settings form.
    pub async fn directory_group_choices(
        &self,
        integration_id: i64,
    ) -> Result<Vec<GroupChoice>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT external_id, name, dn FROM directory_groups WHERE integration_id = $1 \
             ORDER BY LOWER(name), external_id LIMIT $2",
        )
        .bind(integration_id)
        .bind(MAX_GROUP_CHOICES)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(GroupChoice {
                    external_id: row.try_get("external_id")?,
                    name: row.try_get("name")?,
                    dn: row.try_get("dn")?,
                })
            })
            .collect()
    }

    /// Whether a local account (not a directory user's) has this name,
    /// compared case-insensitively: such names never go to a directory.
    pub async fn is_local_account(&self, username: &str) -> Result<bool, sqlx::Error> {
        let count: i64 = sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM users \
             WHERE LOWER(username) = LOWER($1) AND directory_integration_id IS NULL",
        )
        .bind(username)
        .fetch_one(self.pool())
        .await?;
        Ok(count > 0)
    }

    /// The synced users named `username` (case-insensitively) in enabled
    /// integrations whose directory sign-in is enabled, oldest integration
    /// first, each with the role its effective memberships give.
    pub async fn directory_sign_in_candidates(
        &self,
        username: &str,
    ) -> Result<Vec<SignInCandidate>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT u.integration_id, i.name AS integration_name, u.external_id, u.username, u.dn, \
             u.enabled, s.admin_group_external_id, s.viewer_group_external_id, s.allow_plaintext \
             FROM directory_users u \
             JOIN directory_sign_in s ON s.integration_id = u.integration_id \
             JOIN integrations i ON i.id = u.integration_id \
             WHERE s.enabled = 1 AND i.enabled = 1 AND i.provider_id = $2 \
             AND LOWER(u.username) = LOWER($1) \
             ORDER BY u.integration_id, u.external_id",
        )
        .bind(username)
        .bind(DIRECTORY_CONNECTOR)
        .fetch_all(self.pool())
        .await?;
        let mut candidates = Vec::with_capacity(rows.len());
        for row in rows {
            let integration_id: i64 = row.try_get("integration_id")?;
            let external_id: String = row.try_get("external_id")?;
            let admin_group: String = row.try_get("admin_group_external_id")?;
            let viewer_group: Option<String> = row.try_get("viewer_group_external_id")?;
            // Direct and nested memberships alike: the rebuilt table holds both.
            let groups = self
                .memberships_of_member(integration_id, &external_id)
                .await?;
            let member_of = |group: &str| groups.iter().any(|m| m.group_external_id == group);
            let role = if member_of(&admin_group) {
                Some(Role::Admin)
            } else if viewer_group.as_deref().is_some_and(member_of) {
                Some(Role::Viewer)
            } else {
                None
            };
            candidates.push(SignInCandidate {
                integration_id,
                integration_name: row.try_get("integration_name")?,
                external_id,
                username: row.try_get("username")?,
                dn: row.try_get("dn")?,
                enabled: row.try_get::<i64, _>("enabled")? != 0,
                role,
                allow_plaintext: row.try_get::<i64, _>("allow_plaintext")? != 0,
            });
        }
        Ok(candidates)
    }

    /// Brings the local accounts of `integration_id`'s directory users in
    /// line with the last sync and the sign-in settings, so a change in the
    /// directory takes effect for people already signed in, not only at
    /// their next sign-in: an account whose user was disabled, deleted, or
    /// left both groups (or whose integration or directory sign-in is off)
    /// has its sessions ended; one whose groups now give another role gets
    /// it (sessions read the role on every request). Each change is
    /// audited as `directory.account.revoked` or `directory.account.role`
    /// by `actor`.
    pub async fn reconcile_directory_accounts(
        &self,
        integration_id: i64,
        actor: &str,
    ) -> Result<Vec<AccountChange>, sqlx::Error> {
        let accounts = sqlx::query(
            "SELECT id, username, role, directory_external_id FROM users \
             WHERE directory_integration_id = $1 ORDER BY id",
        )
        .bind(integration_id)
        .fetch_all(self.pool())
        .await?;
        if accounts.is_empty() {
            return Ok(Vec::new());
        }
        let settings = self.directory_sign_in_settings(integration_id).await?;
        let integration_enabled: Option<i64> =
            sqlx::query_scalar("SELECT enabled FROM integrations WHERE id = $1")
                .bind(integration_id)
                .fetch_optional(self.pool())
                .await?;
        let switched_off = match (&settings, integration_enabled) {
            (_, None) => Some("the integration was deleted"),
            (_, Some(0)) => Some("the integration is disabled"),
            (None, _) => Some("directory sign-in is not set up"),
            (Some(s), _) if !s.enabled => Some("directory sign-in is turned off"),
            _ => None,
        };
        let mut changes = Vec::new();
        for row in accounts {
            let user_id: i64 = row.try_get("id")?;
            let username: String = row.try_get("username")?;
            let before = row
                .try_get::<String, _>("role")?
                .parse::<Role>()
                .unwrap_or(Role::Viewer);
            let external_id: String = row.try_get("directory_external_id")?;
            let (after, reason) = match (switched_off, &settings) {
                (Some(why), _) => (None, why.to_owned()),
                (None, Some(settings)) => self.directory_role(settings, &external_id).await?,
                (None, None) => unreachable!("no settings is switched off"),
            };
            if after == Some(before) {
                continue;
            }
            let sessions_ended = match after {
                None => self.end_sessions_of(user_id).await?,
                Some(role) => {
                    sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
                        .bind(role.as_str())
                        .bind(user_id)
                        .execute(self.pool())
                        .await?;
                    0
                }
            };
            // An account without sessions that merely could not sign in
            // again is not news; one that lost live access, or changed
            // role, is.
            if after.is_none() && sessions_ended == 0 {
                continue;
            }
            let change = AccountChange {
                user_id,
                username,
                before,
                after,
                reason,
                sessions_ended,
            };
            self.audit(super::audit::AuditEvent {
                actor,
                action: if change.after.is_none() {
                    "directory.account.revoked"
                } else {
                    "directory.account.role"
                },
                target: &format!("user:{}", change.username),
                before: Some(serde_json::json!({"role": change.before.as_str()})),
                after: Some(serde_json::json!({
                    "role": change.after.map(|r| r.as_str()),
                    "reason": change.reason,
                    "sessions_ended": change.sessions_ended,
                })),
                remote: None,
            })
            .await?;
            changes.push(change);
        }
        Ok(changes)
    }

    /// The role the synced data gives a directory user now, and why.
    async fn directory_role(
        &self,
        settings: &DirectorySignInSettings,
        external_id: &str,
    ) -> Result<(Option<Role>, String), sqlx::Error> {
        let enabled: Option<i64> = sqlx::query_scalar(
            "SELECT enabled FROM directory_users WHERE integration_id = $1 AND external_id = $2",
        )
        .bind(settings.integration_id)
        .bind(external_id)
        .fetch_optional(self.pool())
        .await?;
        match enabled {
            None => return Ok((None, "the user is no longer in the directory".into())),
            Some(0) => return Ok((None, "the user is disabled in the directory".into())),
            Some(_) => {}
        }
        let groups = self
            .memberships_of_member(settings.integration_id, external_id)
            .await?;
        let member_of = |group: &str| groups.iter().any(|m| m.group_external_id == group);
        Ok(if member_of(&settings.admin_group_external_id) {
            (Some(Role::Admin), "a member of the admin group".into())
        } else if settings
            .viewer_group_external_id
            .as_deref()
            .is_some_and(member_of)
        {
            (
                Some(Role::Viewer),
                "a member of the viewer group, not the admin group".into(),
            )
        } else {
            (None, "the user is in neither sign-in group any more".into())
        })
    }

    /// The local account of a directory user who just signed in: created
    /// on their first sign-in, renamed and given `role` on later ones.
    /// Refused when another account has the name (case-insensitively).
    pub async fn upsert_directory_account(
        &self,
        candidate: &SignInCandidate,
        role: Role,
    ) -> Result<User, DirectorySignInError> {
        let mut tx = self.begin_write().await?;
        let existing: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM users WHERE directory_integration_id = $1 AND directory_external_id = $2",
        )
        .bind(candidate.integration_id)
        .bind(&candidate.external_id)
        .fetch_optional(&mut *tx)
        .await?;
        let others: i64 = sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM users WHERE LOWER(username) = LOWER($1) AND id <> $2",
        )
        .bind(&candidate.username)
        .bind(existing.unwrap_or(-1))
        .fetch_one(&mut *tx)
        .await?;
        if others > 0 {
            return Err(DirectorySignInError::NameTaken(candidate.username.clone()));
        }
        let row = match existing {
            Some(id) => {
                sqlx::query(
                    "UPDATE users SET username = $1, role = $2 WHERE id = $3 \
                     RETURNING id, username, role, created_at",
                )
                .bind(&candidate.username)
                .bind(role.as_str())
                .bind(id)
                .fetch_one(&mut *tx)
                .await
            }
            None => {
                sqlx::query(
                    "INSERT INTO users (username, password_hash, role, created_at, \
                     directory_integration_id, directory_external_id) VALUES ($1, $2, $3, $4, $5, $6) \
                     RETURNING id, username, role, created_at",
                )
                .bind(&candidate.username)
                .bind(NO_LOCAL_PASSWORD)
                .bind(role.as_str())
                .bind(now_millis())
                .bind(candidate.integration_id)
                .bind(&candidate.external_id)
                .fetch_one(&mut *tx)
                .await
            }
        };
        let row = match row {
            Ok(row) => row,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(DirectorySignInError::NameTaken(candidate.username.clone()));
            }
            Err(e) => return Err(e.into()),
        };
        let user = User {
            id: row.try_get("id")?,
            username: row.try_get("username")?,
            role: row
                .try_get::<String, _>("role")?
                .parse()
                .unwrap_or(Role::Viewer),
            created_at: row.try_get("created_at")?,
        };
        tx.commit().await?;
        Ok(user)
    }
}
