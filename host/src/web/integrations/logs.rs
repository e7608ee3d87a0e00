//! `/integrations/logs`: sync and test history, filtered by integration,
//! status, operation and date, searched by words in messages and log lines,
//! a page at a time.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Html;
use axum::routing::get;
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::super::AppState;
use super::super::dates::{DAY_MS, parse_date};
use super::super::error::Error;
use super::super::render;
use super::super::session::SignedIn;
use crate::store::sync_logs::SyncLogFilter;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/integrations/logs", get(list))
        .route("/integrations/logs/{id}", get(show))
}

/// Entries per page.
const PAGE_SIZE: i64 = 25;

/// The filter form, as submitted (every field may be empty).
#[derive(Deserialize, Serialize, Default)]
struct Filter {
    #[serde(default)]
    integration: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    operation: String,
    /// `YYYY-MM-DD`, inclusive.
    #[serde(default)]
    from: String,
    /// `YYYY-MM-DD`, inclusive.
    #[serde(default)]
    until: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: Option<i64>,
}

impl Filter {
    /// The store's filter, and messages for fields that could not be read.
    fn to_store(&self) -> (SyncLogFilter, Vec<String>) {
        let mut problems = Vec::new();
        let mut date = |text: &str, what: &str| -> Option<i64> {
            if text.trim().is_empty() {
                return None;
            }
            let days = parse_date(text);
            if days.is_none() {
                problems.push(format!("The {what} date must look like 2026-11-25."));
            }
            days
        };
        let from = date(&self.from, "from").map(|d| d * DAY_MS);
        let until = date(&self.until, "until").map(|d| (d + 1) * DAY_MS);
        let pick =
            |value: &str, allowed: &[&str]| allowed.contains(&value).then(|| value.to_owned());
        let filter = SyncLogFilter {
            integration_id: self.integration.parse().ok(),
            status: pick(
                &self.status,
                &["running", "succeeded", "failed", "needs_approval"],
            ),
            operation: pick(&self.operation, &["sync", "test"]),
            from,
            until,
            text: Some(self.q.trim().to_owned()).filter(|q| !q.is_empty()),
        };
        (filter, problems)
    }
}

async fn list(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(filter): Query<Filter>,
) -> Result<Html<String>, Error> {
    let (store_filter, problems) = filter.to_store();
    let page = filter.page.unwrap_or(1).clamp(1, 100_000);
    let (logs, total) = state
        .store
        .sync_logs(&store_filter, (page - 1) * PAGE_SIZE, PAGE_SIZE)
        .await?;
    let pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let integrations = state.store.integrations().await?;
    let names: Vec<_> = integrations
        .iter()
        .map(|i| (i.id.to_string(), i.name.clone()))
        .collect();
    // The filter as a query string, for the pagination links.
    let mut query = Filter {
        page: None,
        ..filter
    };
    query.q = query.q.trim().to_owned();
    let query_string = serde_urlencoded::to_string(&query).unwrap_or_default();
    render::signed_in_page(
        "integrations/logs.html",
        &signed_in,
        context! {
            recent => logs,
            total => total,
            page => page,
            pages => pages,
            filter => &query,
            query_string => query_string,
            integrations => names,
            error => (!problems.is_empty()).then(|| problems.join(" ")),
        },
    )
}

/// Dry-run records shown per page of a log entry.
const DRY_RUN_PAGE: i64 = 50;

#[derive(Deserialize)]
struct Offset {
    #[serde(default)]
    offset: i64,
}

async fn show(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<i64>,
    Query(at): Query<Offset>,
) -> Result<Html<String>, Error> {
    let log = state.store.sync_log(id).await?.ok_or(Error::NotFound)?;
    // A dry run's listing is kept with its job.
    let offset = at.offset.max(0);
    let dry_run = match log.job_id {
        Some(job) => state
            .store
            .dry_run_listing(job, offset, DRY_RUN_PAGE)
            .await?
            .map(|listing| {
                let shown = listing.items.len() as i64;
                serde_json::json!({
                    "listing": listing,
                    "from": offset + 1,
                    "to": offset + shown,
                    "previous": (offset > 0).then(|| (offset - DRY_RUN_PAGE).max(0)),
                    "next": (offset + DRY_RUN_PAGE < listing.listed).then_some(offset + DRY_RUN_PAGE),
                })
            }),
        None => None,
    };
    render::signed_in_page(
        "integrations/log.html",
        &signed_in,
        context! {
            log => log,
            dry_run => dry_run,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_statuses_are_ignored_and_bad_dates_reported() {
        let filter = Filter {
            status: "'; DROP TABLE jobs".into(),
            from: "25/11/2026".into(),
            until: "2026-11-25".into(),
            ..Default::default()
        };
        let (store, problems) = filter.to_store();
        assert_eq!(store.status, None);
        assert_eq!(store.from, None);
        assert_eq!(store.until, Some(20_783 * DAY_MS));
        assert_eq!(problems.len(), 1, "{problems:?}");
    }
}
