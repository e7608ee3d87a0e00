//! Windows of change stamps: how a phase is read where stamp ranges are
//! cheap for the server (`uSNChanged` on Active Directory, whose indexes are
//! ordered).
//!
//! Each phase walks the range of stamps in windows: one paged search per
//! window, the cursor saying which window is being read. A resumed sync
//! starts the current window again and re-reads at most one window, never
//! everything.
//!
//! Windows are sized to hold about two pages. A window that turns out to
//! hold more than three is given up after its third page (what it read is
//! still returned; reading it again only confirms unchanged records) and
//! cut down to what the entries seen so far say fits. The range ends at the
//! newest stamp the server reported at the start; one last, open window
//! then reads what changed while the sync ran, so a full sync never misses
//! an entry that moved to a newer stamp behind it.

use cube_connector_sdk::ldap::{Directory, LdapError};
use cube_connector_sdk::prelude::*;
use cube_connector_sdk::records::is_default;
use serde::{Deserialize, Serialize};

use super::{Cursor, Pause, Target, hex, next_phase, take, unhex};
use crate::config::Config;

/// Buckets of the stamp histogram kept for the window being read.
const BUCKETS: usize = 128;

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Window {
    pub start: i64,
    pub width: i64,
    /// The paged search's cookie (hex), valid on the connection that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
    /// Entries read in this window so far.
    #[serde(default)]
    pub read: u32,
    /// How the stamps of those entries spread over the window.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buckets: Vec<u32>,
    /// How often this window was started again after a reconnect. Part of
    /// the cursor so that a window read again from its start never hands
    /// the host the very cursor it resumed from (slapd's cookies name the
    /// last entry read, so they repeat).
    #[serde(default, skip_serializing_if = "is_default")]
    pub restarts: u32,
    /// The width a crowd of entries seen ahead suggests for the window
    /// after this one (learnt when a window was narrowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ahead: Option<i64>,
}

impl Window {
    pub(super) fn first(since: i64, until: i64) -> Self {
        Window {
            start: since,
            width: ((until - since + 1) / 16).max(1),
            ..Window::default()
        }
    }

    /// The window's last stamp, or `None` for the open window after `until`.
    pub fn end(&self, until: i64) -> Option<i64> {
        (self.start <= until).then(|| self.start.saturating_add(self.width - 1).min(until))
    }

    fn note(&mut self, stamp: i64, until: i64) {
        let Some(end) = self.end(until) else { return };
        if self.buckets.len() != BUCKETS {
            self.buckets = vec![0; BUCKETS];
        }
        let span = (end - self.start + 1).max(1) as i128;
        let offset = (stamp.clamp(self.start, end) - self.start) as i128;
        self.buckets[(offset * BUCKETS as i128 / span) as usize] += 1;
    }

    /// Gives up on this window and narrows it to the part the stamps seen
    /// so far put `target` entries in.
    fn narrow(&mut self, until: i64, target: u32) {
        let span = self
            .end(until)
            .map_or(self.width, |end| end - self.start + 1);
        let bucket_width = (span / BUCKETS as i64).max(1);
        let mut seen = 0;
        let mut whole = 0;
        let mut crowd = 0;
        for count in &self.buckets {
            if seen + count > target {
                crowd = *count;
                break;
            }
            seen += count;
            whole += 1;
        }
        // The crowding bucket holds at least `crowd` entries: a window
        // after the quiet part gets the width that puts `target` of them in.
        let crowd_width = (bucket_width as i128 * target as i128 / crowd.max(1) as i128) as i64;
        let (width, ahead) = if whole == 0 {
            (crowd_width.min(bucket_width / 2), None)
        } else {
            (whole * bucket_width, Some(crowd_width.max(1)))
        };
        *self = Window {
            start: self.start,
            width: width.clamp(1, (span - 1).max(1)),
            ahead,
            ..Window::default()
        };
    }

    /// Moves to the next window, sized from how full this one was.
    fn advance(&mut self, until: i64, target: u32) {
        let Some(end) = self.end(until) else { return };
        let read = self.read.max(1) as i128;
        let scaled = (self.width as i128 * target as i128 / read)
            .clamp((self.width / 4).max(1) as i128, self.width as i128 * 4);
        let width = match self.ahead {
            Some(ahead) => ahead,
            None => scaled.min(i64::MAX as i128) as i64,
        };
        *self = Window {
            start: end + 1,
            width,
            ..Window::default()
        };
    }
}

/// Sends the search of the current window (or its next page) and takes its
/// entries; says whether the call should return now.
pub(super) fn step(
    directory: &Directory,
    config: &Config,
    target: &Target,
    cursor: &mut Cursor,
    records: &mut Vec<Record>,
) -> Result<Pause> {
    let page_size = config.page_size();
    let fits = page_size.saturating_mul(2);
    let most = page_size.saturating_mul(3);
    let end = cursor.window.end(cursor.until);
    let filter = format!(
        "(&{}{})",
        target.filter,
        cursor.tracking.filter(cursor.window.start, end)
    );
    let cookie = cursor.window.cookie.as_deref().and_then(unhex);
    let resumed = cookie.is_some();
    let page = match target.send(directory, &filter, page_size, cookie) {
        Ok(page) => page,
        // A cookie from a connection that is gone: read the window again.
        Err(LdapError::Server(_)) if resumed => {
            log::info("the paged search cannot go on after a reconnect; reading its window again");
            cursor.window = Window {
                cookie: None,
                read: 0,
                buckets: Vec::new(),
                restarts: cursor.window.restarts + 1,
                ..cursor.window.clone()
            };
            return Ok(Pause::No);
        }
        Err(e) => return Err(target.explain(config, e)),
    };
    cursor.window.read += page.entries.len() as u32;
    for entry in &page.entries {
        if let Some(stamp) = take(directory, cursor, target, entry, records)? {
            cursor.window.note(stamp, cursor.until);
        }
    }
    match page.cookie.filter(|c| !c.is_empty()) {
        Some(more) => {
            if end.is_some() && cursor.window.read >= most && cursor.window.width > 1 {
                let before = cursor.window.width;
                cursor.window.narrow(cursor.until, fits);
                log::debug(format!(
                    "{:?}: {} stamps from {} held more than {most} entries; now {}",
                    cursor.phase, before, cursor.window.start, cursor.window.width
                ));
            } else {
                cursor.window.cookie = Some(hex(&more));
            }
            return Ok(Pause::Yes);
        }
        None if end.is_some() => cursor.window.advance(cursor.until, fits),
        None => next_phase(cursor),
    }
    Ok(Pause::No)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_range_then_open() {
        let mut w = Window::first(100, 259);
        assert_eq!(w.width, 10);
        assert_eq!(w.end(259), Some(109));
        w.read = 0;
        w.advance(259, 1000);
        assert_eq!(
            (w.start, w.width),
            (110, 40),
            "an empty window grows, at most fourfold"
        );
        w.start = 250;
        assert_eq!(
            w.end(259),
            Some(259),
            "the last bounded window stops at the newest stamp"
        );
        w.advance(259, 1000);
        assert_eq!(w.start, 260);
        assert_eq!(w.end(259), None, "then one open window");
    }

    #[test]
    fn a_crowded_window_narrows_to_what_fits() {
        let mut w = Window::first(0, 3199);
        assert_eq!(w.width, 200);
        w.width = 3200;
        // 4,000 entries seen, all in the last eighth of the window.
        for i in 0..4000 {
            w.note(2800 + i % 400, 3199);
        }
        w.read = 4000;
        w.narrow(3199, 1000);
        assert_eq!(w.start, 0);
        assert_eq!(
            w.width, 2900,
            "the quiet part and the crowd's first thousand fit in one window"
        );
        // A crowd right at the start narrows hard.
        let mut w = Window {
            start: 0,
            width: 3200,
            ..Window::default()
        };
        for i in 0..4000 {
            w.note(i % 100, 3199);
        }
        w.narrow(3199, 1000);
        assert_eq!(w.width, 25);
    }

    #[test]
    fn a_full_window_shrinks_for_the_next_one() {
        let mut w = Window {
            start: 0,
            width: 1000,
            read: 4000,
            ..Window::default()
        };
        w.advance(100_000, 1000);
        assert_eq!((w.start, w.width), (1000, 250));
        let mut w = Window {
            start: 0,
            width: 1000,
            read: 1000,
            ..Window::default()
        };
        w.advance(100_000, 1000);
        assert_eq!(w.width, 1000);
    }
}
