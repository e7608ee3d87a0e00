//! Ordering records' versions, so that an older copy of a record that
//! arrives after a newer one (a webhook delivered late, out of order, or
//! replayed) does not overwrite it (decision 0025).
//!
//! A version is whatever text the connector gives: Jira's `updated`
//! timestamp (`2026-03-02T10:00:00.000+0000`), ServiceNow's
//! `sys_mod_count` (a counter) or `sys_updated_on` (`2026-03-02 10:00:00`),
//! a REST API's `updated_at`, a directory's `uSNChanged`, an ETag. Two
//! versions are ordered only when both are of one of these kinds:
//!
//! - both decimal integers: by value (`10` is newer than `9`);
//! - both timestamps with an offset (RFC 3339, or Jira's `+0000` form): by
//!   the instant, whatever offsets they are written in;
//! - both timestamps without one (`2026-03-02 10:00:00`,
//!   `2026-03-02T10:00:00.5`), or both dates: by value, as written in the
//!   same zone;
//!
//! Anything else (ETags, hashes, two kinds mixed) cannot be ordered, and a
//! record with such a version is applied as it comes, as before; an equal
//! version is the same record and is skipped.

use std::cmp::Ordering;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime};

/// What a version is, once read.
#[derive(Debug, PartialEq, Eq)]
enum Parsed<'a> {
    /// Digits, without leading zeros (`""` for zero): ordered by length,
    /// then as text, which is the numeric order at any size.
    Integer(&'a str),
    Instant(DateTime<FixedOffset>),
    Local(NaiveDateTime),
    Date(NaiveDate),
}

fn parse(version: &str) -> Option<Parsed<'_>> {
    let text = version.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Parsed::Integer(text.trim_start_matches('0')));
    }
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Some(Parsed::Instant(instant));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(instant) = DateTime::parse_from_str(text, format) {
            return Some(Parsed::Instant(instant));
        }
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(local) = NaiveDateTime::parse_from_str(text, format) {
            return Some(Parsed::Local(local));
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .map(Parsed::Date)
}

/// How `incoming` compares with `stored`, when they can be ordered.
pub(super) fn compare(stored: &str, incoming: &str) -> Option<Ordering> {
    if stored == incoming {
        return Some(Ordering::Equal);
    }
    match (parse(stored)?, parse(incoming)?) {
        (Parsed::Integer(a), Parsed::Integer(b)) => Some(b.len().cmp(&a.len()).then(b.cmp(a))),
        (Parsed::Instant(a), Parsed::Instant(b)) => Some(b.cmp(&a)),
        (Parsed::Local(a), Parsed::Local(b)) => Some(b.cmp(&a)),
        (Parsed::Date(a), Parsed::Date(b)) => Some(b.cmp(&a)),
        _ => None,
    }
}

/// Whether a record at `incoming` is known to be no newer than the stored
/// one: the same version, or an older one.
pub(super) fn not_newer(stored: Option<&str>, incoming: Option<&str>) -> bool {
    match (stored, incoming) {
        (Some(stored), Some(incoming)) => {
            matches!(
                compare(stored, incoming),
                Some(Ordering::Equal | Ordering::Less)
            )
        }
        _ => false,
    }
}

/// Whether a record at `incoming` is the stored version again.
pub(super) fn same(stored: Option<&str>, incoming: Option<&str>) -> bool {
    matches!((stored, incoming), (Some(a), Some(b)) if a == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_of_one_kind_are_ordered() {
        use Ordering::*;
        for (stored, incoming, order) in [
            ("9", "10", Greater),
            ("10", "9", Less),
            ("007", "7", Equal),
            ("0", "00", Equal),
            (
                "123456789012345678901234567890",
                "123456789012345678901234567891",
                Greater,
            ),
            ("2026-03-02T10:00:00Z", "2026-03-02T10:00:01Z", Greater),
            // Jira writes its offset without a colon; the instant counts.
            (
                "2026-03-02T10:00:00.000+0000",
                "2026-03-02T11:30:00.000+0200",
                Less,
            ),
            (
                "2026-03-02T10:00:00.000+0000",
                "2026-03-02T12:00:00.000+02:00",
                Equal,
            ),
            ("2026-03-02 10:00:00", "2026-03-02 09:59:59", Less),
            ("2026-03-02T10:00:00.5", "2026-03-02T10:00:00.25", Less),
            ("2024-01-02", "2024-01-03", Greater),
            ("\"abc\"", "\"abc\"", Equal),
        ] {
            assert_eq!(
                compare(stored, incoming),
                Some(order),
                "{stored} → {incoming}"
            );
        }
    }

    #[test]
    fn versions_that_cannot_be_ordered_are_not_guessed() {
        for (stored, incoming) in [
            ("\"abc\"", "\"0f1\""),
            ("9", "2026-03-02"),
            ("2026-03-02T10:00:00Z", "2026-03-02 10:00:00"),
            ("v2", "v10"),
            ("-1", "-2"),
            ("", "1"),
        ] {
            assert_eq!(compare(stored, incoming), None, "{stored} → {incoming}");
        }
        assert!(!not_newer(Some("\"abc\""), Some("\"0f1\"")));
        assert!(!not_newer(None, Some("1")));
        assert!(!not_newer(Some("1"), None));
        assert!(not_newer(Some("10"), Some("9")));
        assert!(not_newer(Some("10"), Some("10")));
        assert!(!not_newer(Some("10"), Some("11")));
    }
}
