//! Re-sealing every stored secret with a new master key, in one transaction
//! (`cube keys rotate`): either every secret is under the new key, or none
//! is.

use std::collections::BTreeMap;

use sqlx::Row;

use super::{Store, webhook_secrets};
use crate::secrets::{Sealer, SecretError, Slot};

/// What a rotation re-sealed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ResealReport {
    pub integrations: usize,
    pub drafts: usize,
    pub webhooks: usize,
    pub secrets: usize,
}

/// Why re-sealing stopped (nothing was changed).
#[derive(Debug, thiserror::Error)]
pub enum ResealError {
    #[error("the secret `{field}` of {owner} cannot be opened with the current key: {source}")]
    Open {
        owner: String,
        field: String,
        source: SecretError,
    },
    #[error("stored secrets are not valid JSON in {0}")]
    Corrupt(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

fn reseal_map(
    text: &str,
    table: &str,
    row: &str,
    old: &Sealer,
    new: &Sealer,
) -> Result<BTreeMap<String, String>, ResealError> {
    let sealed: BTreeMap<String, String> =
        serde_json::from_str(text).map_err(|_| ResealError::Corrupt(format!("{table} {row}")))?;
    sealed
        .into_iter()
        .map(|(field, value)| {
            let slot = Slot {
                table,
                row,
                field: &field,
            };
            let plain = old.open(&value, slot).map_err(|source| ResealError::Open {
                owner: format!("{table} {row}"),
                field: field.clone(),
                source,
            })?;
            let resealed = new.seal(&plain, slot);
            Ok((field, resealed))
        })
        .collect()
}

impl Store {
    /// Opens every secret with `old` and seals it again with `new`.
    pub async fn reseal_all(
        &self,
        old: &Sealer,
        new: &Sealer,
    ) -> Result<ResealReport, ResealError> {
        let mut report = ResealReport::default();
        let mut tx = self.begin_write().await?;
        for (table, key_column, report_slot) in [
            ("integrations", "id", 0usize),
            ("integration_drafts", "id", 1),
        ] {
            let rows = sqlx::query(&format!(
                "SELECT {key_column} AS k, secrets_json FROM {table}"
            ))
            .fetch_all(&mut *tx)
            .await?;
            for row in rows {
                let key = if table == "integrations" {
                    row.try_get::<i64, _>("k")?.to_string()
                } else {
                    row.try_get::<String, _>("k")?
                };
                let text: String = row.try_get("secrets_json")?;
                let resealed = reseal_map(&text, table, &key, old, new)?;
                report.secrets += resealed.len();
                let json = serde_json::to_string(&resealed).expect("a map serialises");
                let update =
                    format!("UPDATE {table} SET secrets_json = $1 WHERE {key_column} = $2");
                let query = sqlx::query(&update).bind(json);
                let query = if table == "integrations" {
                    query.bind(key.parse::<i64>().expect("an integer id"))
                } else {
                    query.bind(key)
                };
                query.execute(&mut *tx).await?;
                if report_slot == 0 {
                    report.integrations += 1;
                } else {
                    report.drafts += 1;
                }
            }
        }
        // Both kinds of webhook secret: one sealed value per row.
        for table in webhook_secrets::TABLES {
            let rows = sqlx::query(&format!("SELECT id, secret_sealed FROM {table}"))
                .fetch_all(&mut *tx)
                .await?;
            for row in rows {
                let id: i64 = row.try_get("id")?;
                let sealed: String = row.try_get("secret_sealed")?;
                let key = id.to_string();
                let slot = Slot {
                    table,
                    row: &key,
                    field: "secret",
                };
                let plain = old
                    .open(&sealed, slot)
                    .map_err(|source| ResealError::Open {
                        owner: format!("{table} {id}"),
                        field: "secret".into(),
                        source,
                    })?;
                webhook_secrets::write_sealed(&mut tx, table, id, new.seal(&plain, slot)).await?;
                report.webhooks += 1;
                report.secrets += 1;
            }
        }
        tx.commit().await?;
        Ok(report)
    }
}
