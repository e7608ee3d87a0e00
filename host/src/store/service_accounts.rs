//! `service_accounts`: named non-human principals that API tokens act for
//! (decision 0035). Each is owned by an admin who answers for it; its
//! tokens never do more than that admin's role allows now, and the owner
//! cannot be deleted while they own one.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::token_scopes::{TokenError, role_of, validate_name};
use super::users::{Role, User};
use super::{Store, now_millis};

/// A named non-human principal, owned by an admin.
#[derive(Clone, Debug, Serialize)]
pub struct ServiceAccount {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub owner_id: i64,
    pub owner_name: String,
    /// The owner's role now: a service account's tokens never do more.
    #[serde(skip)]
    pub owner_role: Role,
    pub created_at: i64,
}

fn service_account_from_row(row: &AnyRow) -> ServiceAccount {
    ServiceAccount {
        id: row.get("id"),
        name: row.get("name"),
        description: row.get("description"),
        owner_id: row.get("owner_id"),
        owner_name: row.get("owner_name"),
        owner_role: role_of(row, "owner_role"),
        created_at: row.get("created_at"),
    }
}

impl Store {
    /// Makes a service account owned by `owner`, who must be an admin.
    pub async fn create_service_account(
        &self,
        name: &str,
        description: &str,
        owner: &User,
    ) -> Result<ServiceAccount, TokenError> {
        validate_name("service account", name)?;
        if owner.role != Role::Admin {
            return Err(TokenError::Invalid(
                "a service account's owner must be an admin".into(),
            ));
        }
        let result = sqlx::query(
            "INSERT INTO service_accounts (name, description, owner_id, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(name)
        .bind(description.trim())
        .bind(owner.id)
        .bind(now_millis())
        .fetch_one(self.pool())
        .await;
        let id: i64 = match result {
            Ok(row) => row.get("id"),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(TokenError::Taken(name.to_owned()));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(self
            .service_account(id)
            .await?
            .expect("the service account was just inserted"))
    }

    pub async fn service_accounts(&self) -> Result<Vec<ServiceAccount>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT s.id, s.name, s.description, s.owner_id, s.created_at, \
             o.username AS owner_name, o.role AS owner_role \
             FROM service_accounts s JOIN users o ON o.id = s.owner_id ORDER BY s.name",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(service_account_from_row).collect())
    }

    pub async fn service_account(&self, id: i64) -> Result<Option<ServiceAccount>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT s.id, s.name, s.description, s.owner_id, s.created_at, \
             o.username AS owner_name, o.role AS owner_role \
             FROM service_accounts s JOIN users o ON o.id = s.owner_id WHERE s.id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(service_account_from_row))
    }

    pub async fn service_account_named(
        &self,
        name: &str,
    ) -> Result<Option<ServiceAccount>, sqlx::Error> {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM service_accounts WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        match id {
            Some(id) => self.service_account(id).await,
            None => Ok(None),
        }
    }

    /// Deletes a service account and, with it, every token it has.
    pub async fn delete_service_account(&self, id: i64) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM api_tokens WHERE service_account_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM service_accounts WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted > 0)
    }

    /// The names of the service accounts `user_id` owns (a user who owns
    /// one cannot be deleted before it is handed on or deleted).
    pub async fn service_accounts_owned_by(
        &self,
        user_id: i64,
    ) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT name FROM service_accounts WHERE owner_id = $1 ORDER BY name")
            .bind(user_id)
            .fetch_all(self.pool())
            .await
    }
}
