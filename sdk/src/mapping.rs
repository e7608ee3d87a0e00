//! Value mappings an admin writes one pair per line (`open = To Do`):
//! work order statuses and priorities onto a remote system's.
//!
//! Every system names its statuses differently, and only the admin knows
//! which of theirs means which of ours. So a connector takes the mapping as
//! a multi-line configuration field (`"x-cube-multiline": true`), reads it
//! with [`ValueMap::parse`], whose errors name the line to fix, and
//! translates both ways: [`ValueMap::theirs`] when pushing,
//! [`ValueMap::ours`] when syncing.

use crate::error::{Error, Result};

/// A mapping written one pair per line, `ours = theirs`; `#` starts a
/// comment. Several of ours may map to one of theirs: reading back takes
/// the first. Comparisons ignore ASCII case.
///
/// ```
/// use cube_connector_sdk::mapping::ValueMap;
///
/// let statuses = ValueMap::parse(
///     "status mapping",
///     "open = To Do\nin_progress = In Progress\ndone = Done\nclosed = Done  # no Closed in Jira",
/// )?;
/// assert_eq!(statuses.theirs("OPEN"), Some("To Do"));
/// assert_eq!(statuses.ours("Done"), Some("done")); // the first line naming it
/// assert_eq!(statuses.theirs("on_hold"), None);
///
/// let err = ValueMap::parse("status mapping", "open: To Do").unwrap_err();
/// assert!(err.message().contains("line 1 of the status mapping"));
/// # Ok::<(), cube_connector_sdk::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ValueMap {
    /// The pairs `(ours, theirs)` in the order written, trimmed, without
    /// comments and blank lines.
    pub pairs: Vec<(String, String)>,
}

impl ValueMap {
    /// Reads `text`; `what` names the setting in messages ("status
    /// mapping"). A line without `=`, or with nothing on one side of it, is
    /// a `config` error naming the line.
    pub fn parse(what: &str, text: &str) -> Result<ValueMap> {
        let mut pairs = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let Some((ours, theirs)) = line.split_once('=') else {
                return Err(Error::config(format!(
                    "line {} of the {what} has no `=`: write one `work order value = remote value` per line",
                    n + 1
                )));
            };
            let (ours, theirs) = (ours.trim(), theirs.trim());
            if ours.is_empty() || theirs.is_empty() {
                return Err(Error::config(format!(
                    "line {} of the {what} needs a value on both sides of `=`",
                    n + 1
                )));
            }
            pairs.push((ours.to_owned(), theirs.to_owned()));
        }
        Ok(ValueMap { pairs })
    }

    /// The remote value for ours; `None` when no line names it.
    pub fn theirs(&self, ours: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(o, _)| o.eq_ignore_ascii_case(ours))
            .map(|(_, t)| t.as_str())
    }

    /// Our value for the remote one (the first line that names it).
    pub fn ours(&self, theirs: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(_, t)| t.eq_ignore_ascii_case(theirs))
            .map(|(o, _)| o.as_str())
    }

    /// Every remote value, in the order written (repeats included): to
    /// check them against what the remote system offers, for example.
    pub fn all_theirs(&self) -> impl Iterator<Item = &str> {
        self.pairs.iter().map(|(_, t)| t.as_str())
    }

    /// The remote values the mapping names that `known` (what the remote
    /// system offers) lacks, ASCII case ignored, in the order written: a
    /// connection test names them so the admin can fix the mapping.
    ///
    /// ```
    /// use cube_connector_sdk::mapping::ValueMap;
    ///
    /// let map = ValueMap::parse("status mapping", "open = To Do\ndone = Closed")?;
    /// let offered = ["to do".to_owned(), "Done".to_owned()];
    /// assert_eq!(map.unknown_theirs(&offered), vec!["Closed"]);
    /// # Ok::<(), cube_connector_sdk::Error>(())
    /// ```
    pub fn unknown_theirs(&self, known: &[String]) -> Vec<&str> {
        self.all_theirs()
            .filter(|t| !known.iter().any(|k| k.eq_ignore_ascii_case(t)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_read_both_ways_and_name_bad_lines() {
        let map = ValueMap::parse(
            "status mapping",
            "open = To Do\n# note\n\ndone=Done # closed\nclosed = Done",
        )
        .unwrap();
        assert_eq!(map.theirs("OPEN"), Some("To Do"));
        assert_eq!(map.ours("done"), Some("done"));
        assert_eq!(map.theirs("unknown"), None);
        let error = ValueMap::parse("status mapping", "open To Do").unwrap_err();
        assert!(
            error.message().contains("line 1 of the status mapping"),
            "{}",
            error.message()
        );
        assert!(ValueMap::parse("x", "open =").is_err());
    }
}
