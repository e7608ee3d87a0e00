//! Sync schedules: a fixed interval, or a cron expression evaluated in UTC.

use chrono::{DateTime, Utc};
use croner::Cron;

/// Parses a cron expression (five fields, minute granularity, or an alias
/// like `@hourly`), with a message for people when it is not one.
pub fn parse_cron(text: &str) -> Result<Cron, String> {
    let text = text.trim();
    if text.split_whitespace().count() > 5 && !text.starts_with('@') {
        return Err("Use five fields: minute hour day-of-month month day-of-week (like `0 2 * * *` for 02:00 UTC every day).".into());
    }
    text.parse::<Cron>().map_err(|e| {
        format!(
            "This is not a cron expression ({e}); for example `*/15 * * * *` runs every 15 minutes."
        )
    })
}

/// The first time after `after_ms` (milliseconds since the epoch) that a
/// cron expression names, in milliseconds.
pub fn next_cron_run(text: &str, after_ms: i64) -> Option<i64> {
    let cron = parse_cron(text).ok()?;
    let after = DateTime::<Utc>::from_timestamp_millis(after_ms)?;
    cron.find_next_occurrence(&after, false)
        .ok()
        .map(|next| next.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_expressions_name_their_next_run_in_utc() {
        // 2026-11-25 10:07:00 UTC.
        let now = 1_795_601_220_000;
        assert_eq!(
            DateTime::<Utc>::from_timestamp_millis(now)
                .unwrap()
                .to_rfc3339(),
            "2026-11-25T10:07:00+00:00"
        );
        let next = |cron| {
            DateTime::<Utc>::from_timestamp_millis(next_cron_run(cron, now).unwrap())
                .unwrap()
                .to_rfc3339()
        };
        assert_eq!(next("*/15 * * * *"), "2026-11-25T10:15:00+00:00");
        assert_eq!(next("0 2 * * *"), "2026-11-26T02:00:00+00:00");
        assert_eq!(next("30 9 * * MON"), "2026-11-30T09:30:00+00:00");
        assert_eq!(next("@hourly"), "2026-11-25T11:00:00+00:00");
        assert!(parse_cron("every day").is_err());
        assert!(
            parse_cron("0 0 2 * * *")
                .unwrap_err()
                .contains("five fields")
        );
        assert!(parse_cron("61 * * * *").is_err());
    }
}
