//! `connector_state`: the `state` capability's storage in the database.

use sqlx::Row;

use super::{Store, now_millis};
use crate::runtime::capabilities::state::{
    BoxFuture, StateError, StateStore, check_quota, check_sizes,
};

/// Connector state kept in the host's database.
#[derive(Clone, Debug)]
pub struct DbStateStore {
    store: Store,
}

impl DbStateStore {
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

fn unavailable(error: sqlx::Error) -> StateError {
    tracing::error!(%error, "connector state query failed");
    StateError::Unavailable("the state store is unavailable".to_owned())
}

impl StateStore for DbStateStore {
    fn get<'a>(
        &'a self,
        integration: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StateError>> {
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT value FROM connector_state WHERE integration = $1 AND key = $2",
            )
            .bind(integration)
            .bind(key)
            .fetch_optional(self.store.pool())
            .await
            .map_err(unavailable)?;
            Ok(row.map(|r| r.get::<Vec<u8>, _>(0)))
        })
    }

    fn set<'a>(
        &'a self,
        integration: &'a str,
        key: &'a str,
        value: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), StateError>> {
        Box::pin(async move {
            check_sizes(key, &value).map_err(StateError::Refused)?;
            let size = (key.len() + value.len()) as i64;
            let mut tx = self.store.begin_write().await.map_err(unavailable)?;
            let used: i64 = sqlx::query(
                "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM connector_state \
                 WHERE integration = $1 AND key <> $2",
            )
            .bind(integration)
            .bind(key)
            .fetch_one(&mut *tx)
            .await
            .map_err(unavailable)?
            .get(0);
            check_quota(usize::try_from(used).unwrap_or(usize::MAX), key, &value)?;
            sqlx::query(
                "INSERT INTO connector_state (integration, key, value, size, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (integration, key) DO UPDATE SET \
                 value = excluded.value, size = excluded.size, updated_at = excluded.updated_at",
            )
            .bind(integration)
            .bind(key)
            .bind(value)
            .bind(size)
            .bind(now_millis())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
            tx.commit().await.map_err(unavailable)
        })
    }

    fn delete<'a>(
        &'a self,
        integration: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(), StateError>> {
        Box::pin(async move {
            sqlx::query("DELETE FROM connector_state WHERE integration = $1 AND key = $2")
                .bind(integration)
                .bind(key)
                .execute(self.store.pool())
                .await
                .map_err(unavailable)?;
            Ok(())
        })
    }

    fn list_keys<'a>(
        &'a self,
        integration: &'a str,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, StateError>> {
        Box::pin(async move {
            // Keys sort bytewise on both backends (COLLATE "C" on
            // PostgreSQL), so the keys with the prefix form one range.
            let rows = sqlx::query(
                "SELECT key FROM connector_state WHERE integration = $1 AND key >= $2 ORDER BY key",
            )
            .bind(integration)
            .bind(prefix)
            .fetch_all(self.store.pool())
            .await
            .map_err(unavailable)?;
            Ok(rows
                .iter()
                .map(|r| r.get::<String, _>(0))
                .take_while(|k| k.starts_with(prefix))
                .collect())
        })
    }
}
