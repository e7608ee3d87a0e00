//! Reading incidents page by page with `sysparm_offset`.
//!
//! The query is the admin's filter, the assignment group, and for an
//! incremental sync `sys_updated_on>=<since>`, ordered by `sys_updated_on`
//! then `sys_id`. `sys_updated_on` has seconds, so the next sync starts at
//! the last change seen (not after it): what changed in that same second is
//! not missed, and the few incidents read again are skipped by the host by
//! their version (`sys_mod_count`).
//!
//! `sysparm_offset` counts positions in a result that can move while it is
//! read (an incident updated meanwhile jumps to the end). Each page after
//! the first therefore starts one incident early and must begin with the
//! last incident of the page before; when it does not, the read starts over
//! (at most five times, then the sync is retried later), so nothing is
//! skipped silently.

use cube_connector_sdk::prelude::*;
use cube_connector_sdk::records::{SyncCursor, is_default};
use serde::{Deserialize, Serialize};

use crate::client::ServiceNow;
use crate::incidents::{self, FIELDS, Mappings, TABLE, text};

/// Incidents per page at most.
const MAX_PAGE: u32 = 100;
/// How often a read may start over before the sync is failed (to be
/// retried later).
const MAX_RESTARTS: u32 = 5;

/// Where a sync is, as the cursor the host stores.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Cursor {
    /// The `sys_updated_on` the current read started from (none: everything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Incidents read so far in this read.
    #[serde(default, skip_serializing_if = "is_default")]
    pub offset: u32,
    /// The sys_id of the last incident read, which the next page must
    /// start with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_id: Option<String>,
    /// The latest `sys_updated_on` seen in this sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<String>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub restarts: u32,
}

impl SyncCursor for Cursor {}

impl Cursor {
    /// The position the next sync starts from.
    fn next_sync(&self) -> Cursor {
        Cursor {
            since: self.high.clone().or_else(|| self.since.clone()),
            ..Cursor::default()
        }
    }

    fn note(&mut self, stamp: &str) {
        // `YYYY-MM-DD HH:MM:SS` orders as text.
        if crate::time::millis(stamp).is_some()
            && self.high.as_deref().is_none_or(|high| stamp > high)
        {
            self.high = Some(stamp.to_owned());
        }
    }
}

/// The encoded query of a read.
pub fn query(sn: &ServiceNow, since: Option<&str>) -> Result<String> {
    let mut parts: Vec<String> = Vec::new();
    if let Some(filter) = sn.config.filter()? {
        parts.push(filter.to_owned());
    }
    let group = sn.config.assignment_group.trim();
    if !group.is_empty() {
        parts.push(format!("assignment_group={group}"));
    }
    if let Some(since) = since {
        parts.push(format!("sys_updated_on>={since}"));
    }
    parts.push("ORDERBYsys_updated_on^ORDERBYsys_id".into());
    Ok(parts.join("^"))
}

pub fn sync(sn: &ServiceNow, input: SyncInput) -> Result<SyncPage> {
    let mappings = Mappings::of(sn)?;
    let mut cursor = Cursor::parse(input.cursor.as_deref())?;
    if input.mode == SyncMode::Full && input.cursor.is_none() {
        cursor = Cursor::default();
    }
    let page_size = input.page_size.clamp(1, MAX_PAGE);
    let query = query(sn, cursor.since.as_deref())?;
    let overlap = u32::from(cursor.last_id.is_some());
    let page = sn.list(
        TABLE,
        &query,
        FIELDS,
        page_size + overlap,
        cursor.offset.saturating_sub(overlap),
    )?;
    let mut rows = page.records;
    if let Some(last) = &cursor.last_id {
        if rows.first().map(|r| text(r, "sys_id")) != Some(last.as_str()) {
            // Something moved under the read: start it over.
            if cursor.restarts >= MAX_RESTARTS {
                return Err(Error::transient(
                    "the incidents changed faster than they could be read; the sync will be tried again",
                ));
            }
            log::info("incidents moved while they were read; reading again from the start");
            let restarted = Cursor {
                since: cursor.since.clone(),
                high: cursor.high.clone(),
                restarts: cursor.restarts + 1,
                ..Cursor::default()
            };
            return Ok(SyncPage::more(Vec::new(), restarted.text()));
        }
        rows.remove(0);
    }
    cursor.offset += rows.len() as u32;
    if let Some(last) = rows.last() {
        cursor.last_id = Some(text(last, "sys_id").to_owned());
    }
    let more = !rows.is_empty()
        && match page.total {
            Some(total) => u64::from(cursor.offset) < total,
            None => rows.len() as u32 == page_size,
        };
    let mut records = Vec::with_capacity(rows.len());
    for row in &rows {
        cursor.note(text(row, "sys_updated_on"));
        records.push(incidents::record_of(row, &mappings)?);
    }
    if mappings.comments {
        let ids: Vec<&str> = rows.iter().map(|r| text(r, "sys_id")).collect();
        records.extend(incidents::comments_of(sn, &ids)?);
    }
    if more {
        Ok(SyncPage::more(records, cursor.text()))
    } else {
        Ok(SyncPage::done(records, Some(cursor.next_sync().text())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cube_connector_sdk::testing;

    fn config() -> crate::Config {
        serde_json::from_value(json!({
            "instance_url": "https://acme.service-now.com", "username": "cube", "password": "pw",
            "assignment_group": "g1", "query_filter": "active=true", "sync_comments": false
        }))
        .unwrap()
    }

    fn row(id: &str, updated: &str) -> serde_json::Value {
        json!({"sys_id": id, "short_description": id, "state": "1", "priority": "3",
               "sys_updated_on": updated, "sys_mod_count": "0"})
    }

    fn input(cursor: Option<String>) -> SyncInput {
        SyncInput {
            mode: SyncMode::Incremental,
            cursor,
            dry_run: false,
            page_size: 2,
        }
    }

    #[test]
    fn pages_overlap_by_one_and_the_next_sync_starts_at_the_last_change() {
        testing::reset();
        let config = config();
        let sn = ServiceNow::new(&config).unwrap();
        let rows = [
            row("a", "2024-01-15 10:30:00"),
            row("b", "2024-01-15 10:30:01"),
            row("c", "2024-01-15 10:30:02"),
        ];
        testing::on_http(move |req| {
            let offset: usize = req
                .url
                .split("sysparm_offset=")
                .nth(1)
                .map(|s| s.split('&').next().unwrap().parse().unwrap())
                .unwrap_or(0);
            let limit: usize = req
                .url
                .split("sysparm_limit=")
                .nth(1)
                .unwrap()
                .split('&')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            let page: Vec<_> = rows.iter().skip(offset).take(limit).cloned().collect();
            let mut response = testing::response(200, json!({"result": page}).to_string());
            response.headers.push(("x-total-count".into(), "3".into()));
            Ok(response)
        });
        let first = sync(&sn, input(None)).unwrap();
        assert!(first.has_more);
        assert_eq!(first.records.len(), 2);
        let url = &testing::requests()[0].url;
        assert!(
            url.contains("sysparm_query=active%3Dtrue%5Eassignment_group%3Dg1%5EORDERBYsys_updated_on%5EORDERBYsys_id"),
            "{url}"
        );
        let second = sync(&sn, input(first.cursor)).unwrap();
        assert!(!second.has_more);
        assert_eq!(second.records.len(), 1);
        assert_eq!(second.records[0].external_id, "c");
        let url = &testing::requests()[1].url;
        assert!(
            url.contains("sysparm_limit=3") && url.contains("sysparm_offset=1"),
            "{url}"
        );
        let next = Cursor::parse(second.cursor.as_deref()).unwrap();
        assert_eq!(next.since.as_deref(), Some("2024-01-15 10:30:02"));
        assert_eq!(next.offset, 0);
    }

    #[test]
    fn a_moved_result_starts_the_read_over() {
        testing::reset();
        let config = config();
        let sn = ServiceNow::new(&config).unwrap();
        testing::on_http(|_| {
            Ok(testing::response(
                200,
                json!({"result": [row("x", "2024-01-15 10:30:00")]}).to_string(),
            ))
        });
        let cursor = Cursor {
            offset: 2,
            last_id: Some("b".into()),
            ..Cursor::default()
        };
        let page = sync(&sn, input(Some(cursor.text()))).unwrap();
        assert!(page.has_more && page.records.is_empty());
        let restarted = Cursor::parse(page.cursor.as_deref()).unwrap();
        assert_eq!((restarted.offset, restarted.restarts), (0, 1));
        assert!(Cursor::parse(Some("nonsense")).is_err());
    }
}
