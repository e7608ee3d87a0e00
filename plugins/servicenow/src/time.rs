//! ServiceNow's timestamps. With `sysparm_display_value=false` the Table
//! API writes date-time fields as `YYYY-MM-DD HH:MM:SS` in UTC, and an
//! encoded query reads a plain (not `javascript:`) value in UTC too.
//!
//! Connectors have no clock; the one date they need besides those is the
//! server's own, from a response's `Date` header (to know when a cached
//! OAuth token runs out).

pub use cube_connector_sdk::time::http_date_secs;
use cube_connector_sdk::time::{days_from_civil, format_date, parse_date, parse_digits as number};

/// Milliseconds since the epoch of `YYYY-MM-DD HH:MM:SS` (UTC), or of a
/// bare `YYYY-MM-DD` (its midnight).
pub fn millis(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, clock) = text.split_once(' ').unwrap_or((text, "00:00:00"));
    let (year, month, day) = parse_date(date)?;
    let mut hms = clock.split(':');
    let (h, m, s) = (
        number(hms.next()?)?,
        number(hms.next()?)?,
        number(hms.next()?)?,
    );
    if hms.next().is_some() || h > 23 || m > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400_000 + ((h * 60 + m) * 60 + s) * 1000)
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of an instant, rounded down to the second.
pub fn format(millis: i64) -> String {
    let (days, in_day) = (
        millis.div_euclid(86_400_000),
        millis.rem_euclid(86_400_000) / 1000,
    );
    format!(
        "{} {:02}:{:02}:{:02}",
        format_date(days),
        in_day / 3600,
        in_day / 60 % 60,
        in_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_api_timestamps_round_trip() {
        let ms = millis("2024-01-15 10:30:00").unwrap();
        assert_eq!(ms, 1_705_314_600_000);
        assert_eq!(format(ms), "2024-01-15 10:30:00");
        assert_eq!(format(ms + 999), "2024-01-15 10:30:00");
        assert_eq!(millis("2024-01-15"), Some(1_705_276_800_000));
        assert_eq!(format(0), "1970-01-01 00:00:00");
        assert_eq!(millis("2024-13-01 00:00:00"), None);
        assert_eq!(millis("2024-01-15T10:30:00Z"), None);
        assert_eq!(millis(""), None);
    }

    #[test]
    fn http_dates_parse() {
        assert_eq!(
            http_date_secs("Mon, 15 Jan 2024 10:30:00 GMT"),
            Some(1_705_314_600)
        );
        assert_eq!(http_date_secs("yesterday"), None);
    }
}
