//! `integration_mappings`: which source field fills which target field, with
//! an optional minijinja expression as the transform.

use serde::Serialize;
use sqlx::Row;

use super::{Store, now_millis};

/// One field mapping of an integration.
#[derive(Clone, Debug, Serialize)]
pub struct Mapping {
    pub id: i64,
    pub integration_id: i64,
    pub kind: String,
    pub source_field: String,
    pub target_field: String,
    pub transform: Option<String>,
    pub position: i64,
}

impl Store {
    pub async fn mappings(&self, integration_id: i64) -> Result<Vec<Mapping>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, integration_id, kind, source_field, target_field, transform, position \
             FROM integration_mappings WHERE integration_id = $1 ORDER BY kind, position, id",
        )
        .bind(integration_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Mapping {
                    id: r.try_get("id")?,
                    integration_id: r.try_get("integration_id")?,
                    kind: r.try_get("kind")?,
                    source_field: r.try_get("source_field")?,
                    target_field: r.try_get("target_field")?,
                    transform: r.try_get("transform")?,
                    position: r.try_get("position")?,
                })
            })
            .collect()
    }

    /// Adds a mapping at the end of its integration's list.
    pub async fn add_mapping(
        &self,
        integration_id: i64,
        kind: &str,
        source_field: &str,
        target_field: &str,
        transform: Option<&str>,
    ) -> Result<i64, sqlx::Error> {
        let row = sqlx::query(
            "INSERT INTO integration_mappings (integration_id, kind, source_field, target_field, \
             transform, position, created_at) VALUES ($1, $2, $3, $4, $5, \
             (SELECT COALESCE(MAX(position), 0) + 1 FROM integration_mappings WHERE integration_id = $1), $6) \
             RETURNING id",
        )
        .bind(integration_id)
        .bind(kind)
        .bind(source_field)
        .bind(target_field)
        .bind(transform)
        .bind(now_millis())
        .fetch_one(self.pool())
        .await?;
        row.try_get("id")
    }

    /// Deletes a mapping of `integration_id`; false when there was none.
    pub async fn delete_mapping(&self, integration_id: i64, id: i64) -> Result<bool, sqlx::Error> {
        let done =
            sqlx::query("DELETE FROM integration_mappings WHERE id = $1 AND integration_id = $2")
                .bind(id)
                .bind(integration_id)
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() > 0)
    }
}
