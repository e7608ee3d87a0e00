//! `audit_log`: who did what, when, with the object before and after.
//!
//! Callers pass values already stripped of secrets (see
//! `crate::secrets`): the audit log is shown to every admin.

use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use super::{Store, now_millis};

/// One audited action.
#[derive(Clone, Debug, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub remote: Option<String>,
}

/// What to record.
pub struct AuditEvent<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub remote: Option<&'a str>,
}

impl Store {
    pub async fn audit(&self, event: AuditEvent<'_>) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, target, before_json, after_json, remote) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(now_millis())
        .bind(event.actor)
        .bind(event.action)
        .bind(event.target)
        .bind(event.before.map(|v| v.to_string()))
        .bind(event.after.map(|v| v.to_string()))
        .bind(event.remote)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The newest entries first.
    pub async fn audit_entries(&self, limit: i64) -> Result<Vec<AuditEntry>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, target, before_json, after_json, remote \
             FROM audit_log ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(entry_of).collect())
    }

    /// The newest entries of one action on one target first: what an
    /// object's own page shows of its history (an integration's refused
    /// sign-ins, for example).
    pub async fn audit_entries_of(
        &self,
        target: &str,
        action: &str,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, target, before_json, after_json, remote \
             FROM audit_log WHERE target = $1 AND action = $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(target)
        .bind(action)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(entry_of).collect())
    }
}

fn entry_of(r: &sqlx::any::AnyRow) -> AuditEntry {
    let json = |text: Option<String>| text.and_then(|t| serde_json::from_str(&t).ok());
    AuditEntry {
        id: r.get("id"),
        at: r.get("at"),
        actor: r.get("actor"),
        action: r.get("action"),
        target: r.get("target"),
        before: json(r.get("before_json")),
        after: json(r.get("after_json")),
        remote: r.get("remote"),
    }
}
