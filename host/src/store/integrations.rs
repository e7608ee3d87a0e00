//! `integrations` and `integration_providers`: what is configured, with which
//! connector, reaching what.
//!
//! Rows hold secrets sealed (see `crate::secrets`); this module never opens
//! them. `crate::integrations` does, when a call needs the configuration.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::sync_logs::RecordCounts;
use super::{Store, now_millis, outbound};
use crate::runtime::types::{ConnectorInfo, Features};
use crate::runtime::{HttpGrant, LdapGrant};

/// How a sync job ended, as [`Store::record_sync_result`] records it and
/// the `sync.*` events report it.
#[derive(Clone, Copy, Debug)]
pub struct SyncEnded<'a> {
    pub job_id: i64,
    /// `full` or `incremental`.
    pub mode: &'a str,
    /// `succeeded`, `needs_approval` (read to the end, deletions held) or
    /// `failed`.
    pub status: &'a str,
    /// The sync log's summary.
    pub message: &'a str,
    pub counts: RecordCounts,
}

impl SyncEnded<'_> {
    /// Whether the sync counts as a success (a held one read everything).
    pub fn succeeded(&self) -> bool {
        self.status != "failed"
    }
}

/// An integration as stored. `sealed_secrets` maps each secret field to its
/// ciphertext.
#[derive(Clone, Debug, Serialize)]
pub struct Integration {
    pub id: i64,
    pub name: String,
    pub provider_id: String,
    pub enabled: bool,
    pub config: serde_json::Map<String, Value>,
    #[serde(skip)]
    pub sealed_secrets: BTreeMap<String, String>,
    pub http_grants: Vec<HttpGrant>,
    pub ldap_grants: Vec<LdapGrant>,
    pub sync_interval_secs: Option<i64>,
    /// A cron expression (UTC) instead of an interval.
    pub sync_cron: Option<String>,
    #[serde(skip)]
    pub sync_cursor: Option<String>,
    pub last_sync_at: Option<i64>,
    pub last_sync_status: Option<String>,
    pub next_sync_at: Option<i64>,
    /// The full-sync schedule beside the incremental one (see
    /// [`super::schedules`]): an interval, or a cron expression (UTC).
    pub full_sync_interval_secs: Option<i64>,
    pub full_sync_cron: Option<String>,
    pub next_full_sync_at: Option<i64>,
    pub last_test_at: Option<i64>,
    pub last_test_ok: Option<bool>,
    pub last_test_message: Option<String>,
    /// Failed syncs in a row (retries of one job count once).
    pub consecutive_failures: i64,
    /// Disable the integration after this many failed syncs in a row.
    pub disable_after_failures: Option<i64>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Integration {
    /// The names of the secret fields that are set.
    pub fn secret_fields(&self) -> Vec<&str> {
        self.sealed_secrets.keys().map(String::as_str).collect()
    }

    /// What the audit log records of it: everything but secret values.
    pub fn audit_view(&self) -> Value {
        serde_json::json!({
            "name": self.name,
            "connector": self.provider_id,
            "enabled": self.enabled,
            "config": self.config,
            "secrets_set": self.secret_fields(),
            "http_grants": self.http_grants,
            "ldap_grants": self.ldap_grants,
            "sync_interval_secs": self.sync_interval_secs,
            "sync_cron": self.sync_cron,
            "full_sync_interval_secs": self.full_sync_interval_secs,
            "full_sync_cron": self.full_sync_cron,
            "disable_after_failures": self.disable_after_failures,
        })
    }
}

/// The editable part of an integration, with secrets already sealed.
#[derive(Clone, Debug)]
pub struct IntegrationFields {
    pub name: String,
    pub enabled: bool,
    pub config: serde_json::Map<String, Value>,
    pub http_grants: Vec<HttpGrant>,
    pub ldap_grants: Vec<LdapGrant>,
    pub sync_interval_secs: Option<i64>,
    /// A cron expression (UTC); set instead of the interval, not with it.
    pub sync_cron: Option<String>,
    pub disable_after_failures: Option<i64>,
}

impl IntegrationFields {
    /// An enabled integration named `name` with `config`, reaching nothing
    /// (no grants) and synced on demand only; set the rest with struct
    /// update syntax (`IntegrationFields { ldap_grants, ..IntegrationFields::new(name, config) }`).
    pub fn new(name: impl Into<String>, config: serde_json::Map<String, Value>) -> Self {
        Self {
            name: name.into(),
            enabled: true,
            config,
            http_grants: Vec::new(),
            ldap_grants: Vec::new(),
            sync_interval_secs: None,
            sync_cron: None,
            disable_after_failures: None,
        }
    }
}

const COLUMNS: &str = "id, name, provider_id, enabled, config_json, secrets_json, \
    http_grants_json, ldap_grants_json, sync_interval_secs, sync_cron, sync_cursor, last_sync_at, \
    last_sync_status, next_sync_at, last_test_at, last_test_ok, last_test_message, \
    consecutive_failures, disable_after_failures, created_by, created_at, updated_at, \
    full_sync_interval_secs, full_sync_cron, next_full_sync_at";

fn integration_from_row(row: &AnyRow) -> Result<Integration, sqlx::Error> {
    fn json<T: serde::de::DeserializeOwned>(row: &AnyRow, column: &str) -> Result<T, sqlx::Error> {
        let text: String = row.try_get(column)?;
        serde_json::from_str(&text).map_err(|e| sqlx::Error::ColumnDecode {
            index: column.to_owned(),
            source: Box::new(e),
        })
    }
    Ok(Integration {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        provider_id: row.try_get("provider_id")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        config: json(row, "config_json")?,
        sealed_secrets: json(row, "secrets_json")?,
        http_grants: json(row, "http_grants_json")?,
        ldap_grants: json(row, "ldap_grants_json")?,
        sync_interval_secs: row.try_get("sync_interval_secs")?,
        sync_cron: row.try_get("sync_cron")?,
        sync_cursor: row.try_get("sync_cursor")?,
        last_sync_at: row.try_get("last_sync_at")?,
        last_sync_status: row.try_get("last_sync_status")?,
        next_sync_at: row.try_get("next_sync_at")?,
        full_sync_interval_secs: row.try_get("full_sync_interval_secs")?,
        full_sync_cron: row.try_get("full_sync_cron")?,
        next_full_sync_at: row.try_get("next_full_sync_at")?,
        last_test_at: row.try_get("last_test_at")?,
        last_test_ok: row
            .try_get::<Option<i64>, _>("last_test_ok")?
            .map(|v| v != 0),
        last_test_message: row.try_get("last_test_message")?,
        consecutive_failures: row.try_get("consecutive_failures")?,
        disable_after_failures: row.try_get("disable_after_failures")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("integration fields serialise")
}

/// Why an integration could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum IntegrationError {
    #[error("an integration named `{0}` exists already")]
    NameTaken(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

fn unique_violation(error: sqlx::Error, name: &str) -> IntegrationError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            IntegrationError::NameTaken(name.to_owned())
        }
        _ => IntegrationError::Database(error),
    }
}

impl Store {
    /// Records a loaded connector, so integrations can refer to it.
    pub async fn upsert_provider(
        &self,
        info: &ConnectorInfo,
        digest: &str,
    ) -> Result<(), sqlx::Error> {
        let now = now_millis();
        let mut features = Vec::new();
        for (flag, name) in [
            (Features::SYNC, "sync"),
            (Features::PUSH, "push"),
            (Features::WEBHOOKS, "webhooks"),
        ] {
            if info.features.contains(flag) {
                features.push(name);
            }
        }
        sqlx::query(
            "INSERT INTO integration_providers (id, name, version, description, digest, \
             config_schema, capabilities_json, features, first_seen_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, version = excluded.version, \
             description = excluded.description, digest = excluded.digest, \
             config_schema = excluded.config_schema, capabilities_json = excluded.capabilities_json, \
             features = excluded.features, updated_at = excluded.updated_at",
        )
        .bind(&info.id)
        .bind(&info.name)
        .bind(&info.version)
        .bind(&info.description)
        .bind(digest)
        .bind(&info.config_schema)
        .bind(to_json(&serde_json::json!({
            "http": info.capabilities.http,
            "ldap": info.capabilities.ldap,
        })))
        .bind(features.join(","))
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Creates an integration. `seal` receives the new row's id and returns
    /// the sealed secrets, which are stored in the same transaction: a
    /// ciphertext is bound to its row, so the id must exist first.
    pub async fn create_integration(
        &self,
        provider_id: &str,
        fields: &IntegrationFields,
        created_by: &str,
        seal: impl FnOnce(i64) -> BTreeMap<String, String>,
    ) -> Result<Integration, IntegrationError> {
        let now = now_millis();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "INSERT INTO integrations (name, provider_id, enabled, config_json, secrets_json, \
             http_grants_json, ldap_grants_json, sync_interval_secs, disable_after_failures, created_by, \
             created_at, updated_at, sync_cron) VALUES ($1, $2, $3, $4, '{}', $5, $6, $7, $8, $9, $10, $10, $11) \
             RETURNING id",
        )
        .bind(&fields.name)
        .bind(provider_id)
        .bind(fields.enabled as i64)
        .bind(to_json(&fields.config))
        .bind(to_json(&fields.http_grants))
        .bind(to_json(&fields.ldap_grants))
        .bind(fields.sync_interval_secs)
        .bind(fields.disable_after_failures)
        .bind(created_by)
        .bind(now)
        .bind(&fields.sync_cron)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| unique_violation(e, &fields.name))?;
        let id: i64 = row.try_get("id")?;
        let sealed = seal(id);
        sqlx::query("UPDATE integrations SET secrets_json = $1 WHERE id = $2")
            .bind(to_json(&sealed))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(self
            .integration(id)
            .await?
            .expect("the integration was just created"))
    }

    /// Replaces an integration's editable fields and its sealed secrets.
    pub async fn update_integration(
        &self,
        id: i64,
        fields: &IntegrationFields,
        sealed_secrets: &BTreeMap<String, String>,
    ) -> Result<(), IntegrationError> {
        sqlx::query(
            "UPDATE integrations SET name = $1, enabled = $2, config_json = $3, secrets_json = $4, \
             http_grants_json = $5, ldap_grants_json = $6, sync_interval_secs = $7, updated_at = $8, \
             disable_after_failures = $9, \
             next_sync_at = CASE WHEN sync_cron IS NOT DISTINCT FROM $11 AND sync_interval_secs IS NOT DISTINCT FROM $7 \
             THEN next_sync_at ELSE NULL END, sync_cron = $11 WHERE id = $10",
        )
        .bind(&fields.name)
        .bind(fields.enabled as i64)
        .bind(to_json(&fields.config))
        .bind(to_json(sealed_secrets))
        .bind(to_json(&fields.http_grants))
        .bind(to_json(&fields.ldap_grants))
        .bind(fields.sync_interval_secs)
        .bind(now_millis())
        .bind(fields.disable_after_failures)
        .bind(id)
        .bind(&fields.sync_cron)
        .execute(self.pool())
        .await
        .map_err(|e| unique_violation(e, &fields.name))?;
        Ok(())
    }

    /// Enables or disables an integration, for `actor`. Disabling one that
    /// signs directory users in ends their sessions (see
    /// [`Store::reconcile_directory_accounts`]); disabling an enabled one
    /// queues the `integration.disabled` event.
    pub async fn set_integration_enabled(
        &self,
        id: i64,
        enabled: bool,
        actor: &str,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE integrations SET enabled = $1, updated_at = $2 WHERE id = $3 AND enabled <> $1",
        )
        .bind(enabled as i64)
        .bind(now_millis())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if !enabled && done.rows_affected() == 1 {
            let name: String = sqlx::query_scalar("SELECT name FROM integrations WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
            let data = serde_json::json!({
                "integration": {"id": id, "name": name},
                "reason": "by_admin",
                "by": actor,
            });
            outbound::queue_event(&mut tx, "integration.disabled", data).await?;
        }
        tx.commit().await?;
        if !enabled {
            self.reconcile_directory_accounts(id, "system").await?;
        }
        Ok(())
    }

    /// Remembers the verdict of the latest connection test.
    pub async fn record_test_result(
        &self,
        id: i64,
        ok: bool,
        message: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE integrations SET last_test_at = $1, last_test_ok = $2, last_test_message = $3 \
             WHERE id = $4",
        )
        .bind(now_millis())
        .bind(ok as i64)
        .bind(message)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Remembers how the latest sync ended, counts failures in a row, and
    /// disables the integration when they reach its limit; queues
    /// `sync.succeeded` or `sync.failed` (and `integration.disabled`) in
    /// the same transaction. Returns the failures in a row and whether this
    /// call disabled it. An interval schedule's next run is one interval
    /// after this end; a full sync (`mode` "full") moves both schedules on,
    /// since it read everything.
    pub async fn record_sync_result(
        &self,
        id: i64,
        ended: &SyncEnded<'_>,
    ) -> Result<(i64, bool), sqlx::Error> {
        let now = now_millis();
        let succeeded = ended.succeeded();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE integrations SET last_sync_at = $1, last_sync_status = $2, \
             consecutive_failures = CASE WHEN $3 = 1 THEN 0 ELSE consecutive_failures + 1 END, \
             next_sync_at = CASE WHEN sync_interval_secs IS NOT NULL THEN $1 + sync_interval_secs * 1000 \
             WHEN sync_cron IS NOT NULL THEN next_sync_at ELSE NULL END, \
             next_full_sync_at = CASE WHEN $5 = 1 AND full_sync_interval_secs IS NOT NULL \
             THEN $1 + full_sync_interval_secs * 1000 ELSE next_full_sync_at END WHERE id = $4",
        )
        .bind(now)
        .bind(if succeeded { "succeeded" } else { "failed" })
        .bind(succeeded as i64)
        .bind(id)
        .bind((ended.mode == "full") as i64)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(
            "SELECT name, consecutive_failures, disable_after_failures, enabled FROM integrations WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let name: String = row.try_get("name")?;
        let failures: i64 = row.try_get("consecutive_failures")?;
        let limit: Option<i64> = row.try_get("disable_after_failures")?;
        let enabled = row.try_get::<i64, _>("enabled")? != 0;
        let disable = enabled && limit.is_some_and(|limit| failures >= limit);
        let integration = serde_json::json!({"id": id, "name": name});
        let mut events = vec![(
            if succeeded {
                "sync.succeeded"
            } else {
                "sync.failed"
            }
            .to_owned(),
            serde_json::json!({
                "integration": integration,
                "job_id": ended.job_id,
                "mode": ended.mode,
                "status": ended.status,
                "message": ended.message,
                "records": ended.counts,
                "failures_in_a_row": failures,
            }),
        )];
        if disable {
            sqlx::query("UPDATE integrations SET enabled = 0, updated_at = $1 WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            events.push((
                "integration.disabled".to_owned(),
                serde_json::json!({
                    "integration": integration,
                    "reason": "failed_syncs",
                    "by": "system",
                    "failures_in_a_row": failures,
                }),
            ));
        }
        outbound::queue_events(&mut tx, &events).await?;
        tx.commit().await?;
        Ok((failures, disable))
    }

    /// Deletes an integration with everything synced through it; the
    /// directory change feed records its users and groups deleted and its
    /// memberships removed, in the same transaction.
    pub async fn delete_integration(&self, id: i64) -> Result<bool, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        super::directory::changes::record_integration_gone(&mut tx, id).await?;
        let done = sqlx::query("DELETE FROM integrations WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn integration(&self, id: i64) -> Result<Option<Integration>, sqlx::Error> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM integrations WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(integration_from_row).transpose()
    }

    /// Every integration, by name.
    pub async fn integrations(&self) -> Result<Vec<Integration>, sqlx::Error> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM integrations ORDER BY name"))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(integration_from_row).collect()
    }
}
