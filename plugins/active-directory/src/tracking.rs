//! Change stamps: how the connector asks a directory "what changed between
//! A and B".
//!
//! Every entry carries a stamp that grows with each change to it:
//! `uSNChanged` on Active Directory (an integer, per domain controller),
//! `entryCSN` on OpenLDAP (a time with microseconds, per change), or, as a
//! last resort, `modifyTimestamp` (a time in whole seconds). The connector
//! maps each to an integer (the USN, or microseconds/seconds since 1970) so
//! it can cut the range into windows, and back into filter values.

use cube_connector_sdk::time::{civil_from_days, days_from_civil};
use serde::{Deserialize, Serialize};

/// Which stamp is used.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Tracking {
    Usn,
    Csn,
    Timestamp,
}

impl Tracking {
    /// The attribute that holds the stamp.
    pub fn attribute(self) -> &'static str {
        match self {
            Tracking::Usn => "uSNChanged",
            Tracking::Csn => "entryCSN",
            Tracking::Timestamp => "modifyTimestamp",
        }
    }

    /// A stamp's value as an integer, or `None` when it is not one.
    pub fn parse(self, value: &str) -> Option<i64> {
        match self {
            Tracking::Usn => value.trim().parse().ok(),
            Tracking::Csn => generalized_time_micros(value),
            Tracking::Timestamp => generalized_time_micros(value).map(|us| us / 1_000_000),
        }
    }

    /// A filter matching entries whose stamp is at least `from` and, when
    /// given, at most `to`.
    pub fn filter(self, from: i64, to: Option<i64>) -> String {
        let attribute = self.attribute();
        let low = self.format(from, false);
        match to {
            Some(to) => format!(
                "(&({attribute}>={low})({attribute}<={}))",
                self.format(to, true)
            ),
            None => format!("({attribute}>={low})"),
        }
    }

    /// A filter value for `stamp`; `upper` gives the largest value with
    /// that stamp (CSNs carry a change counter after the time).
    fn format(self, stamp: i64, upper: bool) -> String {
        match self {
            Tracking::Usn => stamp.max(0).to_string(),
            Tracking::Csn => format!(
                "{}.{:06}Z#{}",
                civil_time(stamp.div_euclid(1_000_000)),
                stamp.rem_euclid(1_000_000),
                if upper {
                    "ffffff#fff#ffffff"
                } else {
                    "000000#000#000000"
                }
            ),
            Tracking::Timestamp => format!("{}Z", civil_time(stamp)),
        }
    }
}

/// Microseconds since 1970 of an LDAP GeneralizedTime in UTC
/// (`20261125101010Z`, `20261125101010.123456Z`, or a CSN that starts
/// with one). Minutes and seconds may be left out, as the syntax allows.
pub fn generalized_time_micros(value: &str) -> Option<i64> {
    let value = value.trim();
    // Borrowed, not collected: this runs for every entry of a sync.
    let digits = &value[..value.bytes().take_while(u8::is_ascii_digit).count()];
    if digits.len() < 10 {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        digits.get(range).map_or(Some(0), |s| s.parse().ok())
    };
    let (year, month, day) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hour, minute, second) = (num(8..10)?, num(10..12)?, num(12..14)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let rest = &value[digits.len()..];
    let micros = match rest.strip_prefix(['.', ',']) {
        // Up to six digits, as microseconds: `.5` is 500,000.
        Some(fraction) => fraction
            .bytes()
            .take_while(u8::is_ascii_digit)
            .chain(std::iter::repeat(b'0'))
            .take(6)
            .fold(0, |micros, digit| micros * 10 + i64::from(digit - b'0')),
        None => 0,
    };
    // Both are in range: checked above.
    let days = days_from_civil(year, month as u32, day as u32);
    Some(((days * 24 + hour) * 60 + minute) * 60_000_000 + second * 1_000_000 + micros)
}

/// `YYYYmmddHHMMSS` of a time in seconds since 1970.
fn civil_time(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}{month:02}{day:02}{:02}{:02}{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_through_filters() {
        let us = generalized_time_micros("20261125101010.123456Z#000000#000#000000").unwrap();
        assert_eq!(us % 1_000_000, 123_456);
        assert_eq!(
            Tracking::Csn.filter(us, Some(us + 1)),
            "(&(entryCSN>=20261125101010.123456Z#000000#000#000000)(entryCSN<=20261125101010.123457Z#ffffff#fff#ffffff))"
        );
        assert_eq!(generalized_time_micros("19700101000000Z"), Some(0));
        assert_eq!(
            generalized_time_micros("20000301000000Z"),
            Some(951_868_800_000_000)
        );
        assert_eq!(
            Tracking::Timestamp.filter(951_868_800, None),
            "(modifyTimestamp>=20000301000000Z)"
        );
        assert_eq!(
            Tracking::Usn.filter(12, Some(99)),
            "(&(uSNChanged>=12)(uSNChanged<=99))"
        );
        assert_eq!(
            generalized_time_micros("20000301000000.5Z"),
            Some(951_868_800_500_000),
            "a short fraction is tenths, not millionths"
        );
        assert_eq!(
            generalized_time_micros("20000301000000,1234567Z"),
            Some(951_868_800_123_456),
            "digits past microseconds are dropped"
        );
        assert_eq!(generalized_time_micros("2026"), None);
        assert_eq!(generalized_time_micros("20261325101010Z"), None);
    }

    #[test]
    fn every_day_converts_both_ways() {
        for days in (-700_000..800_000).step_by(997) {
            let text = civil_time(days * 86_400 + 3_723);
            let back = generalized_time_micros(&format!("{text}Z")).unwrap();
            assert_eq!(back, (days * 86_400 + 3_723) * 1_000_000, "{text}");
        }
    }
}
