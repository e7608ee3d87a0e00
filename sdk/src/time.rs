//! Calendar arithmetic for connectors, which have no clock and no time
//! zone database: civil dates to day numbers and back (proleptic
//! Gregorian, Howard Hinnant's algorithms), `YYYY-MM-DD` dates read and
//! written, and HTTP dates, the one clock a connector can read (a
//! response's `Date` header).

/// Days since 1970-01-01 of a civil date (negative before it).
///
/// The date is not checked: pass a month of 1-12 and a day that exists.
///
/// ```
/// use cube_connector_sdk::time::days_from_civil;
///
/// assert_eq!(days_from_civil(1970, 1, 1), 0);
/// // Days between two dates:
/// assert_eq!(days_from_civil(2025, 3, 1) - days_from_civil(2025, 2, 1), 28);
/// ```
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a day number, the inverse of
/// [`days_from_civil`].
///
/// ```
/// use cube_connector_sdk::time::civil_from_days;
///
/// // A timestamp in milliseconds, as records carry them, to a date:
/// let updated_at_ms: i64 = 1_732_442_400_000;
/// assert_eq!(civil_from_days(updated_at_ms.div_euclid(86_400_000)), (2024, 11, 24));
/// ```
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A whole number written in ASCII digits only (no sign, no spaces), as
/// the fields of dates and times are; `None` for anything else.
///
/// ```
/// use cube_connector_sdk::time::parse_digits;
///
/// assert_eq!(parse_digits("0930"), Some(930));
/// assert_eq!(parse_digits("+930"), None);
/// assert_eq!(parse_digits(""), None);
/// ```
pub fn parse_digits(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The civil date `(year, month, day)` of `YYYY-MM-DD`: digits only, a
/// month of 1-12 and a day of 1-31 (not checked against the month's
/// length); `None` for anything else, surrounding spaces included.
///
/// ```
/// use cube_connector_sdk::time::{days_from_civil, parse_date};
///
/// assert_eq!(parse_date("2024-02-29"), Some((2024, 2, 29)));
/// assert_eq!(parse_date("2024-13-01"), None);
/// assert_eq!(parse_date("2024-02-29T00:00"), None);
/// // A due date as the milliseconds of its midnight UTC:
/// let (y, m, d) = parse_date("1970-01-02").unwrap();
/// assert_eq!(days_from_civil(y, m, d) * 86_400_000, 86_400_000);
/// ```
pub fn parse_date(text: &str) -> Option<(i64, u32, u32)> {
    let mut parts = text.split('-');
    let (year, month, day) = (
        parse_digits(parts.next()?)?,
        parse_digits(parts.next()?)? as u32,
        parse_digits(parts.next()?)? as u32,
    );
    if parts.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    Some((year, month, day))
}

/// `YYYY-MM-DD` of a day number (days since 1970-01-01), the inverse of
/// [`parse_date`] with [`days_from_civil`].
///
/// ```
/// use cube_connector_sdk::time::format_date;
///
/// let due_at_ms: i64 = 951_782_400_000;
/// assert_eq!(format_date(due_at_ms.div_euclid(86_400_000)), "2000-02-29");
/// assert_eq!(format_date(-1), "1969-12-31");
/// ```
pub fn format_date(days: i64) -> String {
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Seconds since the epoch of an HTTP date (IMF-fixdate,
/// `Sun, 06 Nov 1994 08:49:37 GMT`); `None` for anything else.
///
/// A response's `Date` header is the only clock a connector can read:
/// use it for "now", for example to tell when a cached token expires.
///
/// ```
/// use cube_connector_sdk::{http, time};
///
/// # use cube_connector_sdk::testing;
/// # testing::on_http(|_| {
/// #     let mut response = testing::response(200, "{}");
/// #     response.headers.push(("date".into(), "Sun, 24 Nov 2024 10:00:00 GMT".into()));
/// #     Ok(response)
/// # });
/// let response = http::get("https://api.example.com/me").send()?;
/// let now = response.header("date").and_then(time::http_date_secs);
/// assert_eq!(now, Some(1_732_442_400));
/// # Ok::<(), cube_connector_sdk::Error>(())
/// ```
pub fn http_date_secs(value: &str) -> Option<i64> {
    let parts: Vec<&str> = value.split_whitespace().collect();
    let [_, day, month, year, clock, "GMT"] = parts.as_slice() else {
        return None;
    };
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as u32
        + 1;
    let day: u32 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    let year: i64 = year.parse().ok()?;
    let mut hms = clock.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if !(0..24).contains(&h) || !(0..60).contains(&m) || !(0..61).contains(&s) {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3_600 + m * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2024, 1, 15), 19_737);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        for days in [-800_000, -1, 0, 59, 19_737, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn http_dates_parse() {
        assert_eq!(
            http_date_secs("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(http_date_secs("Sun, 06 Nov 1994 25:49:37 GMT"), None);
        assert_eq!(http_date_secs("Sun, 06 Nox 1994 08:49:37 GMT"), None);
        assert_eq!(http_date_secs("yesterday"), None);
    }
}
