//! `/integrations/dashboard`: how many integrations, how many active, how
//! syncs went day by day, which integrations are failing, and what happened
//! lately. Charts are SVG drawn here, so the page needs no JavaScript.

use axum::Router;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use minijinja::context;

use super::super::AppState;
use super::super::charts::{self, Series};
use super::super::dates::{DAY_MS, civil_from_days};
use super::super::error::Error;
use super::super::render;
use super::super::session::SignedIn;
use crate::store::now_millis;
use crate::store::sync_logs::SyncLogFilter;

pub fn routes() -> Router<AppState> {
    Router::new().route("/integrations/dashboard", get(dashboard))
}

/// Days the charts cover.
const DAYS: i64 = 14;

async fn dashboard(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> Result<Html<String>, Error> {
    let integrations = state.store.integrations().await?;
    let active = integrations.iter().filter(|i| i.enabled).count() as u64;
    let inactive = integrations.len() as u64 - active;
    let failing: Vec<_> = integrations
        .iter()
        .filter(|i| i.enabled && i.last_sync_status.as_deref() == Some("failed"))
        .collect();

    let today = now_millis().div_euclid(DAY_MS);
    let first = today - DAYS + 1;
    let by_day = state.store.sync_outcomes_by_day(first * DAY_MS).await?;
    let mut succeeded = vec![0u64; DAYS as usize];
    let mut failed = vec![0u64; DAYS as usize];
    for (day_ms, ok, bad) in by_day {
        let index = day_ms.div_euclid(DAY_MS) - first;
        if (0..DAYS).contains(&index) {
            succeeded[index as usize] = ok.max(0) as u64;
            failed[index as usize] = bad.max(0) as u64;
        }
    }
    let labels: Vec<String> = (first..=today).map(day_label).collect();
    let rates: Vec<Option<f64>> = succeeded
        .iter()
        .zip(&failed)
        .map(|(ok, bad)| {
            let all = ok + bad;
            (all > 0).then(|| *ok as f64 * 100.0 / all as f64)
        })
        .collect();
    let total_ok: u64 = succeeded.iter().sum();
    let total_failed: u64 = failed.iter().sum();
    let outcomes_chart = charts::stacked_bars(
        "Syncs per day",
        &labels,
        &[
            Series {
                name: "succeeded",
                class: "ok",
                values: succeeded.clone(),
            },
            Series {
                name: "failed",
                class: "failed",
                values: failed.clone(),
            },
        ],
    );
    let rate_chart =
        charts::percent_line("Sync success rate", &labels, "success rate", "ok", &rates);
    let errors_chart = charts::stacked_bars(
        "Failed syncs per day",
        &labels,
        &[Series {
            name: "failed",
            class: "failed",
            values: failed,
        }],
    );
    let status_chart = charts::proportion_bar(
        "Integrations by status",
        &[
            ("active", "active", active),
            ("inactive", "inactive", inactive),
        ],
    );
    let (recent, _) = state
        .store
        .sync_logs(&SyncLogFilter::default(), 0, 10)
        .await?;
    render::signed_in_page(
        "integrations/dashboard.html",
        &signed_in,
        context! {
            total => integrations.len(),
            active => active,
            inactive => inactive,
            failing => failing,
            syncs_ok => total_ok,
            syncs_failed => total_failed,
            success_rate => (total_ok + total_failed > 0).then(|| (total_ok * 100) / (total_ok + total_failed)),
            days => DAYS,
            outcomes_chart => minijinja::Value::from_safe_string(outcomes_chart),
            rate_chart => minijinja::Value::from_safe_string(rate_chart),
            errors_chart => minijinja::Value::from_safe_string(errors_chart),
            status_chart => minijinja::Value::from_safe_string(status_chart),
            recent => recent,
        },
    )
}

/// `Nov 25` for day `day` since the epoch.
fn day_label(day: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (_, m, d) = civil_from_days(day);
    format!("{} {d}", MONTHS[(m - 1) as usize])
}

#[cfg(test)]
mod tests {
    #[test]
    fn days_are_labelled_by_month_and_day() {
        assert_eq!(super::day_label(0), "Jan 1");
        assert_eq!(super::day_label(20_782), "Nov 25");
    }
}
