//! Reading issues page by page, with each edition's pagination: Jira
//! Cloud's token-paged `POST /rest/api/3/search/jql`, Data Center's
//! `startAt`-paged `POST /rest/api/2/search`.
//!
//! The query is the project (and the admin's JQL filter), and for an
//! incremental sync `updated >= "<since>"`, ordered by `updated` then key.
//! JQL dates have minute precision, so `since` is the last change seen
//! minus a minute: a few issues are read twice, and the host skips those
//! whose version it already has.
//!
//! `startAt` counts positions in a result that can move while it is read
//! (an issue updated meanwhile jumps to the end). Each Data Center page
//! therefore starts one issue early and must begin with the last issue of
//! the page before; when it does not, the read starts over, so nothing is
//! skipped silently (a full sync must see every issue).

use cube_connector_sdk::prelude::*;
use cube_connector_sdk::records::{SyncCursor, is_default};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client::Jira;
use crate::issues::{self, Mappings};
use crate::time;

/// Jira returns at most 100 issues per search page.
const MAX_PAGE: u32 = 100;
/// How often a Data Center read may start over before the sync is failed
/// (to be retried later) rather than chasing a project that changes faster
/// than it can be read.
const MAX_RESTARTS: u32 = 5;

/// Where a sync is, as the cursor the host stores.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Cursor {
    /// The JQL date the current read started from (none: everything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Cloud: the token of the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Data Center: issues read so far in this read.
    #[serde(default, skip_serializing_if = "is_default")]
    pub start_at: u32,
    /// Data Center: the key of the last issue read, which the next page
    /// must start with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_key: Option<String>,
    /// The latest change seen in this sync (ms) and the offset Jira wrote
    /// it with.
    #[serde(default, skip_serializing_if = "is_default")]
    pub high_ms: i64,
    #[serde(default, skip_serializing_if = "is_default")]
    pub offset_minutes: i32,
    #[serde(default, skip_serializing_if = "is_default")]
    pub restarts: u32,
}

impl SyncCursor for Cursor {}

impl Cursor {
    /// The position the next sync starts from.
    fn next_sync(&self) -> Cursor {
        let since = if self.high_ms > 0 {
            Some(time::jql_date(self.high_ms - 60_000, self.offset_minutes))
        } else {
            self.since.clone()
        };
        Cursor {
            since,
            ..Cursor::default()
        }
    }

    fn note(&mut self, issue: &Value) {
        let stamp = issue
            .pointer("/fields/updated")
            .and_then(Value::as_str)
            .and_then(time::parse);
        if let Some(stamp) = stamp
            && stamp.millis > self.high_ms
        {
            self.high_ms = stamp.millis;
            self.offset_minutes = stamp.offset_minutes;
        }
    }
}

/// The query of a read.
pub fn jql(jira: &Jira, since: Option<&str>) -> Result<String> {
    let mut jql = format!("project = \"{}\"", jira.config.project()?);
    let filter = jira.config.jql_filter.trim();
    if !filter.is_empty() {
        jql.push_str(&format!(" AND ({filter})"));
    }
    if let Some(since) = since {
        jql.push_str(&format!(" AND updated >= \"{since}\""));
    }
    jql.push_str(" ORDER BY updated ASC, key ASC");
    Ok(jql)
}

pub fn sync(jira: &Jira, input: SyncInput) -> Result<SyncPage> {
    let mappings = Mappings::of(jira)?;
    let mut cursor = Cursor::parse(input.cursor.as_deref())?;
    if input.mode == SyncMode::Full && input.cursor.is_none() {
        cursor = Cursor::default();
    }
    let page_size = input.page_size.clamp(1, MAX_PAGE);
    let query = jql(jira, cursor.since.as_deref())?;
    let (issues, more) = if jira.is_cloud() {
        cloud_page(jira, &query, &mappings, page_size, &mut cursor)?
    } else {
        match data_center_page(jira, &query, &mappings, page_size, &mut cursor)? {
            Some(page) => page,
            None => {
                // Something moved under the read: start it over.
                if cursor.restarts >= MAX_RESTARTS {
                    return Err(Error::transient(
                        "the project's issues changed faster than they could be read; the sync will be tried again",
                    ));
                }
                log::info("issues moved while they were read; reading again from the start");
                let restarted = Cursor {
                    since: cursor.since.clone(),
                    restarts: cursor.restarts + 1,
                    ..Cursor::default()
                };
                return Ok(SyncPage::more(Vec::new(), restarted.text()));
            }
        }
    };
    let mut records = Vec::new();
    for issue in &issues {
        cursor.note(issue);
        records.extend(issues::records_of(jira, issue, &mappings)?);
    }
    if more {
        Ok(SyncPage::more(records, cursor.text()))
    } else {
        Ok(SyncPage::done(records, Some(cursor.next_sync().text())))
    }
}

fn issues_of(page: &Value) -> Vec<Value> {
    page.get("issues")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn cloud_page(
    jira: &Jira,
    query: &str,
    mappings: &Mappings,
    page_size: u32,
    cursor: &mut Cursor,
) -> Result<(Vec<Value>, bool)> {
    let mut body = json!({
        "jql": query,
        "fields": mappings.wanted(),
        "maxResults": page_size,
    });
    if let Some(token) = &cursor.token {
        body["nextPageToken"] = json!(token);
    }
    let page: Value = jira.write("POST", "/search/jql", &body)?.json()?;
    let issues = issues_of(&page);
    let token = page
        .get("nextPageToken")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    let last = page.get("isLast").and_then(Value::as_bool);
    let more = token.is_some() && last != Some(true) && !issues.is_empty();
    cursor.token = token;
    Ok((issues, more))
}

/// A Data Center page, or `None` when the result moved since the previous
/// page.
fn data_center_page(
    jira: &Jira,
    query: &str,
    mappings: &Mappings,
    page_size: u32,
    cursor: &mut Cursor,
) -> Result<Option<(Vec<Value>, bool)>> {
    let overlap = u32::from(cursor.last_key.is_some());
    let start = cursor.start_at.saturating_sub(overlap);
    let body = json!({
        "jql": query,
        "fields": mappings.wanted(),
        "startAt": start,
        "maxResults": page_size + overlap,
    });
    let page: Value = jira.write("POST", "/search", &body)?.json()?;
    let mut issues = issues_of(&page);
    if let Some(last) = &cursor.last_key {
        let first = issues
            .first()
            .and_then(|i| i.get("key"))
            .and_then(Value::as_str);
        if first != Some(last.as_str()) {
            return Ok(None);
        }
        issues.remove(0);
    }
    let total = page.get("total").and_then(Value::as_u64).unwrap_or(0);
    cursor.start_at += issues.len() as u32;
    if let Some(key) = issues
        .last()
        .and_then(|i| i.get("key"))
        .and_then(Value::as_str)
    {
        cursor.last_key = Some(key.to_owned());
    }
    let more = !issues.is_empty() && u64::from(cursor.start_at) < total;
    Ok(Some((issues, more)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_sync_starts_a_minute_before_the_last_change() {
        let mut cursor = Cursor::default();
        cursor.note(&json!({"fields": {"updated": "2024-01-15T21:30:10.000+1100"}}));
        cursor.note(&json!({"fields": {"updated": "2024-01-15T09:00:00.000+0000"}}));
        let next = cursor.next_sync();
        assert_eq!(next.since.as_deref(), Some("2024-01-15 21:29"));
        assert_eq!(next.token, None);
        assert_eq!(Cursor::parse(Some(&next.text())).unwrap(), next);
        // Nothing seen: the previous start stays.
        let quiet = Cursor {
            since: Some("2024-01-01 00:00".into()),
            ..Cursor::default()
        };
        assert_eq!(quiet.next_sync().since.as_deref(), Some("2024-01-01 00:00"));
        assert!(Cursor::parse(Some("not json")).is_err());
    }
}
