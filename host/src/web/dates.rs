//! Dates typed into forms: `YYYY-MM-DD`, in UTC.

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// Days since the epoch of a `YYYY-MM-DD` date (UTC), if it is one.
pub fn parse_date(text: &str) -> Option<i64> {
    let mut parts = text.trim().splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1970..=9999).contains(&y) {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// The `YYYY-MM-DD` date (UTC) of a time in milliseconds since the epoch.
pub fn format_date(millis: i64) -> String {
    let (y, m, d) = civil_from_days(millis.div_euclid(DAY_MS));
    format!("{y:04}-{m:02}-{d:02}")
}

/// The year, month (1 to 12) and day of the month of day `days` since the
/// epoch (UTC).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_count_days_since_the_epoch() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2026-11-25"), Some(20_782));
        assert_eq!(parse_date("2024-03-01"), Some(19_783));
        assert_eq!(parse_date("2026-13-01"), None);
        assert_eq!(parse_date("yesterday"), None);
    }

    #[test]
    fn dates_format_back_to_what_was_typed() {
        assert_eq!(format_date(0), "1970-01-01");
        assert_eq!(format_date(20_782 * DAY_MS + 3_600_000), "2026-11-25");
        for text in ["2024-02-29", "2000-03-01", "1999-12-31", "2100-01-01"] {
            assert_eq!(format_date(parse_date(text).unwrap() * DAY_MS), text);
        }
    }
}
