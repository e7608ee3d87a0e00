//! `integration_drafts`: what a setup wizard has gathered so far, kept on
//! the server so that secrets never travel back to the browser between
//! steps. A draft belongs to one user and expires after a day.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use sqlx::Row;

use super::{Store, now_millis};

/// How long an untouched draft is kept.
pub const DRAFT_TTL_MS: i64 = 24 * 60 * 60 * 1000;

/// A wizard in progress.
#[derive(Clone, Debug)]
pub struct Draft {
    pub id: String,
    pub user_id: i64,
    pub provider_id: String,
    pub step: i64,
    /// Plain values: the connector's fields, plus `name`, `http_grants`,
    /// `ldap_grants`, `sync_interval_minutes` as typed.
    pub values: Map<String, Value>,
    /// Secret fields, each sealed to this draft and field.
    pub sealed_secrets: BTreeMap<String, String>,
    pub tested_digest: Option<String>,
    pub verdict_json: Option<String>,
}

fn decode<T: serde::de::DeserializeOwned>(text: &str, column: &str) -> Result<T, sqlx::Error> {
    serde_json::from_str(text).map_err(|e| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: Box::new(e),
    })
}

impl Store {
    /// Starts a draft for `user_id`; drafts older than a day go at the same time.
    pub async fn create_draft(
        &self,
        user_id: i64,
        provider_id: &str,
    ) -> Result<Draft, sqlx::Error> {
        let now = now_millis();
        sqlx::query("DELETE FROM integration_drafts WHERE updated_at < $1")
            .bind(now - DRAFT_TTL_MS)
            .execute(self.pool())
            .await?;
        let id = super::sessions::random_token();
        sqlx::query(
            "INSERT INTO integration_drafts (id, user_id, provider_id, step, values_json, secrets_json, \
             created_at, updated_at) VALUES ($1, $2, $3, 0, '{}', '{}', $4, $4)",
        )
        .bind(&id)
        .bind(user_id)
        .bind(provider_id)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(Draft {
            id,
            user_id,
            provider_id: provider_id.to_owned(),
            step: 0,
            values: Map::new(),
            sealed_secrets: BTreeMap::new(),
            tested_digest: None,
            verdict_json: None,
        })
    }

    /// The draft `id` of `user_id` for `provider_id`, unless expired.
    pub async fn draft(
        &self,
        id: &str,
        user_id: i64,
        provider_id: &str,
    ) -> Result<Option<Draft>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT id, user_id, provider_id, step, values_json, secrets_json, tested_digest, verdict_json \
             FROM integration_drafts WHERE id = $1 AND user_id = $2 AND provider_id = $3 AND updated_at >= $4",
        )
        .bind(id)
        .bind(user_id)
        .bind(provider_id)
        .bind(now_millis() - DRAFT_TTL_MS)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Draft {
            id: row.try_get("id")?,
            user_id: row.try_get("user_id")?,
            provider_id: row.try_get("provider_id")?,
            step: row.try_get("step")?,
            values: decode(&row.try_get::<String, _>("values_json")?, "values_json")?,
            sealed_secrets: decode(&row.try_get::<String, _>("secrets_json")?, "secrets_json")?,
            tested_digest: row.try_get("tested_digest")?,
            verdict_json: row.try_get("verdict_json")?,
        }))
    }

    /// Saves a draft's progress.
    pub async fn save_draft(&self, draft: &Draft) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE integration_drafts SET step = $1, values_json = $2, secrets_json = $3, \
             tested_digest = $4, verdict_json = $5, updated_at = $6 WHERE id = $7",
        )
        .bind(draft.step)
        .bind(Value::Object(draft.values.clone()).to_string())
        .bind(serde_json::to_string(&draft.sealed_secrets).expect("a map serialises"))
        .bind(&draft.tested_digest)
        .bind(&draft.verdict_json)
        .bind(now_millis())
        .bind(&draft.id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn delete_draft(&self, id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM integration_drafts WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
