//! `integration_sync_logs`: the history of syncs and connection tests, with
//! the counts, the outcome in words and the connector's log lines.
//!
//! Everything written here is scrubbed of secrets before it arrives: the
//! logs page shows it to viewers.

use serde::Serialize;
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, now_millis};

/// One sync or connection test.
#[derive(Clone, Debug, Serialize)]
pub struct SyncLog {
    pub id: i64,
    pub integration_id: Option<i64>,
    pub integration_name: String,
    pub job_id: Option<i64>,
    pub operation: String,
    pub trigger: String,
    pub mode: Option<String>,
    pub status: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub duration_ms: Option<i64>,
    pub counts: RecordCounts,
    pub message: String,
    pub log: Value,
}

/// What a sync did to records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RecordCounts {
    pub read: i64,
    pub created: i64,
    pub updated: i64,
    pub deleted: i64,
    pub failed: i64,
}

impl RecordCounts {
    pub fn add(&mut self, other: RecordCounts) {
        self.read += other.read;
        self.created += other.created;
        self.updated += other.updated;
        self.deleted += other.deleted;
        self.failed += other.failed;
    }
}

/// A run about to start.
pub struct NewSyncLog<'a> {
    pub integration_id: i64,
    pub integration_name: &'a str,
    pub job_id: Option<i64>,
    pub operation: &'a str,
    pub trigger: &'a str,
    pub mode: Option<&'a str>,
}

/// Which logs to list. Every filter is optional.
#[derive(Clone, Debug, Default)]
pub struct SyncLogFilter {
    pub integration_id: Option<i64>,
    pub status: Option<String>,
    pub operation: Option<String>,
    /// Started at or after (ms).
    pub from: Option<i64>,
    /// Started before (ms).
    pub until: Option<i64>,
    /// Words that must all appear in the message, the log lines or the
    /// integration's name (case-insensitive).
    pub text: Option<String>,
}

const COLUMNS: &str = "id, integration_id, integration_name, job_id, operation, trigger, mode, \
    status, started_at, finished_at, duration_ms, records_read, records_created, records_updated, \
    records_deleted, records_failed, message, log_json";

fn log_from_row(row: &AnyRow) -> Result<SyncLog, sqlx::Error> {
    let log_text: String = row.try_get("log_json")?;
    Ok(SyncLog {
        id: row.try_get("id")?,
        integration_id: row.try_get("integration_id")?,
        integration_name: row.try_get("integration_name")?,
        job_id: row.try_get("job_id")?,
        operation: row.try_get("operation")?,
        trigger: row.try_get("trigger")?,
        mode: row.try_get("mode")?,
        status: row.try_get("status")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        duration_ms: row.try_get("duration_ms")?,
        counts: RecordCounts {
            read: row.try_get("records_read")?,
            created: row.try_get("records_created")?,
            updated: row.try_get("records_updated")?,
            deleted: row.try_get("records_deleted")?,
            failed: row.try_get("records_failed")?,
        },
        message: row.try_get("message")?,
        log: serde_json::from_str(&log_text).unwrap_or(Value::Array(Vec::new())),
    })
}

/// Escapes `%`, `_` and `\` for a `LIKE ... ESCAPE '\'` pattern.
fn like_pattern(word: &str) -> String {
    let mut out = String::from("%");
    for c in word.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// A WHERE clause and its parameters, numbered from `$1`.
enum Param {
    Int(i64),
    Text(String),
}

fn where_clause(filter: &SyncLogFilter) -> (String, Vec<Param>) {
    let mut conditions = Vec::new();
    let mut params = Vec::new();
    let mut next = |conditions: &mut Vec<String>, template: &str, param: Param| {
        params.push(param);
        conditions.push(template.replace('?', &format!("${}", params.len())));
    };
    if let Some(id) = filter.integration_id {
        next(&mut conditions, "integration_id = ?", Param::Int(id));
    }
    if let Some(status) = &filter.status {
        next(&mut conditions, "status = ?", Param::Text(status.clone()));
    }
    if let Some(operation) = &filter.operation {
        next(
            &mut conditions,
            "operation = ?",
            Param::Text(operation.clone()),
        );
    }
    if let Some(from) = filter.from {
        next(&mut conditions, "started_at >= ?", Param::Int(from));
    }
    if let Some(until) = filter.until {
        next(&mut conditions, "started_at < ?", Param::Int(until));
    }
    if let Some(text) = &filter.text {
        for word in text.split_whitespace().take(8) {
            next(
                &mut conditions,
                "LOWER(message || ' ' || log_json || ' ' || integration_name) LIKE ? ESCAPE '\\'",
                Param::Text(like_pattern(word)),
            );
        }
    }
    let clause = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    (clause, params)
}

impl Store {
    /// Opens a log entry in state `running`; returns its id.
    pub async fn start_sync_log(&self, new: NewSyncLog<'_>) -> Result<i64, sqlx::Error> {
        let row = sqlx::query(
            "INSERT INTO integration_sync_logs (integration_id, integration_name, job_id, operation, \
             trigger, mode, status, started_at) VALUES ($1, $2, $3, $4, $5, $6, 'running', $7) RETURNING id",
        )
        .bind(new.integration_id)
        .bind(new.integration_name)
        .bind(new.job_id)
        .bind(new.operation)
        .bind(new.trigger)
        .bind(new.mode)
        .bind(now_millis())
        .fetch_one(self.pool())
        .await?;
        row.try_get("id")
    }

    /// Closes a log entry as succeeded or failed.
    pub async fn finish_sync_log(
        &self,
        id: i64,
        succeeded: bool,
        counts: RecordCounts,
        message: &str,
        log: &Value,
    ) -> Result<(), sqlx::Error> {
        let status = if succeeded { "succeeded" } else { "failed" };
        self.close_sync_log(id, status, counts, message, log).await
    }

    /// Closes a log entry in `status` (`succeeded`, `failed`, or
    /// `needs_approval`: a full sync that held its deletions).
    pub async fn close_sync_log(
        &self,
        id: i64,
        status: &str,
        counts: RecordCounts,
        message: &str,
        log: &Value,
    ) -> Result<(), sqlx::Error> {
        let now = now_millis();
        sqlx::query(
            "UPDATE integration_sync_logs SET status = $1, finished_at = $2, duration_ms = $2 - started_at, \
             records_read = $3, records_created = $4, records_updated = $5, records_deleted = $6, \
             records_failed = $7, message = $8, log_json = $9 WHERE id = $10",
        )
        .bind(status)
        .bind(now)
        .bind(counts.read)
        .bind(counts.created)
        .bind(counts.updated)
        .bind(counts.deleted)
        .bind(counts.failed)
        .bind(message)
        .bind(log.to_string())
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn sync_log(&self, id: i64) -> Result<Option<SyncLog>, sqlx::Error> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM integration_sync_logs WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(log_from_row).transpose()
    }

    /// A page of matching logs, newest first, and how many match in all.
    pub async fn sync_logs(
        &self,
        filter: &SyncLogFilter,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<SyncLog>, i64), sqlx::Error> {
        let (clause, params) = where_clause(filter);
        let n = params.len();
        let sql = format!(
            "SELECT {COLUMNS} FROM integration_sync_logs{clause} ORDER BY started_at DESC, id DESC \
             LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let mut query = sqlx::query(&sql);
        for param in &params {
            query = match param {
                Param::Int(v) => query.bind(*v),
                Param::Text(v) => query.bind(v.clone()),
            };
        }
        let rows = query
            .bind(limit)
            .bind(offset)
            .fetch_all(self.pool())
            .await?;
        let logs = rows.iter().map(log_from_row).collect::<Result<_, _>>()?;

        let sql =
            format!("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM integration_sync_logs{clause}");
        let mut query = sqlx::query(&sql);
        for param in &params {
            query = match param {
                Param::Int(v) => query.bind(*v),
                Param::Text(v) => query.bind(v.clone()),
            };
        }
        let total: i64 = query.fetch_one(self.pool()).await?.try_get("n")?;
        Ok((logs, total))
    }

    /// Finished syncs per day since `since` (ms): (day start ms, succeeded, failed).
    /// Days are UTC.
    pub async fn sync_outcomes_by_day(
        &self,
        since: i64,
    ) -> Result<Vec<(i64, i64, i64)>, sqlx::Error> {
        const DAY: i64 = 86_400_000;
        let rows = sqlx::query(
            "SELECT CAST((started_at / 86400000) * 86400000 AS BIGINT) AS day, \
             CAST(SUM(CASE WHEN status = 'succeeded' THEN 1 ELSE 0 END) AS BIGINT) AS ok, \
             CAST(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS BIGINT) AS failed \
             FROM integration_sync_logs WHERE operation = 'sync' AND started_at >= $1 \
             GROUP BY day ORDER BY day",
        )
        .bind(since - since.rem_euclid(DAY))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("day")?, r.try_get("ok")?, r.try_get("failed")?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_Off\\"), "%50\\%\\_off\\\\%");
    }

    #[test]
    fn filters_number_their_parameters_in_order() {
        let filter = SyncLogFilter {
            integration_id: Some(3),
            status: Some("failed".into()),
            text: Some("refused  timeout".into()),
            ..Default::default()
        };
        let (clause, params) = where_clause(&filter);
        assert_eq!(params.len(), 4);
        assert!(clause.contains("integration_id = $1"), "{clause}");
        assert!(clause.contains("status = $2"), "{clause}");
        assert!(
            clause.contains("LIKE $3") && clause.contains("LIKE $4"),
            "{clause}"
        );
    }
}
