//! Jira's timestamps (`2024-01-15T10:30:00.000+0000`) as milliseconds, and
//! back as the minute-precision dates JQL takes.
//!
//! Connectors have no clock and no time zone database; they need neither.
//! Jira writes timestamps with the offset of the account's time zone, and
//! JQL reads dates in that same zone, so a bound is written with the offset
//! of the timestamp it came from.

use cube_connector_sdk::time::{days_from_civil, format_date, parse_date, parse_digits as number};

/// A parsed timestamp: the instant, and the offset it was written with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub millis: i64,
    pub offset_minutes: i32,
}

/// Reads `YYYY-MM-DDTHH:MM:SS[.fff](+HHMM|+HH:MM|Z)`.
pub fn parse(text: &str) -> Option<Stamp> {
    let text = text.trim();
    let (date, rest) = text.split_once('T')?;
    let (year, month, day) = parse_date(date)?;
    let zone_at = rest.find(['+', '-', 'Z']).unwrap_or(rest.len());
    let (clock, zone) = rest.split_at(zone_at);
    let (clock, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let mut hms = clock.split(':');
    let (h, m) = (number(hms.next()?)?, number(hms.next()?)?);
    let s = hms.next().map(number).unwrap_or(Some(0))?;
    let millis_part = if fraction.is_empty() {
        0
    } else {
        let digits: String = fraction.chars().chain("000".chars()).take(3).collect();
        number(&digits)?
    };
    let offset_minutes = match zone {
        "" | "Z" => 0,
        _ => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let digits: String = zone[1..].chars().filter(|c| *c != ':').collect();
            if digits.len() != 4 {
                return None;
            }
            let hours = number(&digits[..2])?;
            let minutes = number(&digits[2..])?;
            sign * (hours * 60 + minutes) as i32
        }
    };
    let local = days_from_civil(year, month, day) * 86_400_000
        + ((h * 60 + m) * 60 + s) * 1000
        + millis_part;
    Some(Stamp {
        millis: local - i64::from(offset_minutes) * 60_000,
        offset_minutes,
    })
}

/// Milliseconds of a timestamp, for the host's conflict rule.
pub fn millis(text: &str) -> Option<i64> {
    parse(text).map(|s| s.millis)
}

/// A JQL date (`"yyyy-MM-dd HH:mm"`) for an instant, in the zone of
/// `offset_minutes`, rounded down to the minute.
pub fn jql_date(millis: i64, offset_minutes: i32) -> String {
    let local = millis + i64::from(offset_minutes) * 60_000;
    let (days, in_day) = (local.div_euclid(86_400_000), local.rem_euclid(86_400_000));
    let minutes = in_day / 60_000;
    format!(
        "{} {:02}:{:02}",
        format_date(days),
        minutes / 60,
        minutes % 60
    )
}

/// A Jira due date (`YYYY-MM-DD`) as the milliseconds of its midnight UTC,
/// the way the host stores due dates.
pub fn due_millis(date: &str) -> Option<i64> {
    let (year, month, day) = parse_date(date.trim())?;
    Some(days_from_civil(year, month, day) * 86_400_000)
}

/// A due date in milliseconds as Jira's `YYYY-MM-DD` (UTC).
pub fn due_date(millis: i64) -> String {
    format_date(millis.div_euclid(86_400_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jira_timestamps_in_any_offset() {
        let utc = parse("2024-01-15T10:30:00.000+0000").unwrap();
        assert_eq!(utc.millis, 1_705_314_600_000);
        let sydney = parse("2024-01-15T21:30:00.000+1100").unwrap();
        assert_eq!(sydney.millis, utc.millis);
        assert_eq!(sydney.offset_minutes, 660);
        assert_eq!(
            parse("2024-01-15T05:30:00.5-05:00").unwrap().millis,
            utc.millis + 500
        );
        assert_eq!(millis("2024-01-15T10:30:00Z"), Some(utc.millis));
        assert_eq!(parse("2024-13-15T10:30:00Z"), None);
        assert_eq!(parse("yesterday"), None);
    }

    #[test]
    fn jql_dates_are_local_to_the_offset_and_floor_the_minute() {
        let at = parse("2024-01-15T21:30:59.999+1100").unwrap();
        assert_eq!(jql_date(at.millis, at.offset_minutes), "2024-01-15 21:30");
        assert_eq!(jql_date(at.millis, 0), "2024-01-15 10:30");
        assert_eq!(jql_date(at.millis, -600), "2024-01-15 00:30");
        assert_eq!(jql_date(0, -60), "1969-12-31 23:00");
    }

    #[test]
    fn due_dates_round_trip() {
        let ms = due_millis("2024-02-29").unwrap();
        assert_eq!(due_date(ms), "2024-02-29");
        assert_eq!(due_date(ms + 3_600_000), "2024-02-29");
        assert_eq!(due_millis("2024-02-29T00:00"), None);
    }
}
