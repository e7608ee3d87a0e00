//! Reading users, then groups, in windows of change stamps.
//!
//! A paged-results cookie lives only as long as the connection that made
//! it. The host keeps a job's connection across `sync` calls, so within one
//! attempt the cookie goes into the cursor and paging goes on; but after a
//! crash, or a server that dropped the connection, the cookie is worthless.
//! So each phase walks the range of change stamps (`uSNChanged`,
//! `entryCSN`) in windows: one paged search per window, the cursor saying
//! which window is being read. A resumed sync starts the current window
//! again and re-reads at most one window, never everything.
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
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::entries::{group_attributes, group_record, user_attributes, user_record};
use crate::server::{self, ServerState};
use crate::tracking::Tracking;

/// Buckets of the stamp histogram kept for the window being read.
const BUCKETS: usize = 128;
/// Searches one call may send before it returns (empty windows are cheap,
/// but the host should hear from us now and then).
const SEARCHES_PER_CALL: u32 = 24;
/// After a sync of `modifyTimestamp`s (whole seconds, no server-side
/// high-water mark), the next one starts this many seconds before the
/// newest change it saw, to catch changes committed out of order.
const TIMESTAMP_OVERLAP_SECONDS: i64 = 60;

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Users,
    Groups,
    Done,
}

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
    #[serde(default, skip_serializing_if = "is_zero")]
    pub restarts: u32,
    /// The width a crowd of entries seen ahead suggests for the window
    /// after this one (learnt when a window was narrowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ahead: Option<i64>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct Cursor {
    pub v: u32,
    pub tracking: Tracking,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation: Option<String>,
    /// The first stamp this sync reads; once done, the first stamp the next
    /// incremental sync reads.
    pub since: i64,
    /// The newest stamp when the sync started: the end of the bounded windows.
    pub until: i64,
    pub phase: Phase,
    pub window: Window,
    /// The newest stamp seen in this sync.
    #[serde(default)]
    pub newest_seen: i64,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Window {
    fn first(since: i64, until: i64) -> Self {
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

/// Where this call starts: the cursor to resume, or a new one.
fn start(directory: &Directory, config: &Config, input: &SyncInput) -> Result<Cursor> {
    let previous = input
        .cursor
        .as_deref()
        .and_then(|c| serde_json::from_str::<Cursor>(c).ok());
    if let Some(cursor) = &previous
        && cursor.phase != Phase::Done
    {
        return Ok(cursor.clone());
    }
    if input.cursor.is_some() && previous.is_none() {
        log::warn("the stored sync cursor is not this connector's; reading everything");
    }
    let ServerState {
        tracking,
        newest,
        invocation,
    } = server::state(directory, config)?;
    let oldest = || {
        server::oldest_below(directory, config.user_base(), tracking).min(server::oldest_below(
            directory,
            config.group_base(),
            tracking,
        ))
    };
    let since = match (input.mode, previous) {
        (SyncMode::Incremental, Some(prev))
            if prev.tracking == tracking && prev.invocation == invocation =>
        {
            prev.since
        }
        (SyncMode::Incremental, Some(prev)) => {
            log::warn(if prev.tracking != tracking {
                format!(
                    "change tracking moved from {} to {}: reading everything once",
                    prev.tracking.attribute(),
                    tracking.attribute()
                )
            } else {
                "the domain controller's invocationId changed (a restore, or another DC): its \
                 USNs say nothing about the last sync, so everything is read once; run a full \
                 sync to find deletions"
                    .to_owned()
            });
            oldest()
        }
        _ => oldest(),
    };
    let until = newest.unwrap_or(since - 1);
    Ok(Cursor {
        v: 1,
        tracking,
        invocation,
        since,
        until,
        phase: Phase::Users,
        window: Window::first(since, until),
        newest_seen: since,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Reads the next page of the sync.
pub fn sync(config: &Config, input: SyncInput) -> Result<SyncPage> {
    let directory = server::open(config)?;
    let mut cursor = start(&directory, config, &input)?;
    let map = config.attributes();
    let page_size = config.page_size();
    let target = page_size.saturating_mul(2);
    let most = page_size.saturating_mul(3);
    let mut records = Vec::new();
    let mut searches = 0;
    while cursor.phase != Phase::Done && searches < SEARCHES_PER_CALL {
        searches += 1;
        let (base, filter, attributes) = match cursor.phase {
            Phase::Users => (
                config.user_base(),
                config.user_filter(),
                user_attributes(&map, cursor.tracking),
            ),
            _ => (
                config.group_base(),
                config.group_filter(),
                group_attributes(&map, cursor.tracking),
            ),
        };
        let end = cursor.window.end(cursor.until);
        let filter = format!(
            "(&{filter}{})",
            cursor.tracking.filter(cursor.window.start, end)
        );
        let names: Vec<&str> = attributes.iter().map(String::as_str).collect();
        let cookie = cursor.window.cookie.as_deref().and_then(unhex);
        let resumed = cookie.is_some();
        let page = match directory
            .search(base, &filter)
            .attributes(&names)
            .page_size(page_size)
            .cookie(cookie)
            .send()
        {
            Ok(page) => page,
            // A cookie from a connection that is gone: read the window again.
            Err(LdapError::Server(_)) if resumed => {
                log::info(
                    "the paged search cannot go on after a reconnect; reading its window again",
                );
                cursor.window = Window {
                    cookie: None,
                    read: 0,
                    buckets: Vec::new(),
                    restarts: cursor.window.restarts + 1,
                    ..cursor.window
                };
                continue;
            }
            Err(LdapError::NoSuchObject(_)) => {
                return Err(Error::config(format!(
                    "The search base {base} does not exist on {}.",
                    config.url()
                )));
            }
            Err(e) => return Err(server::explain(config, e)),
        };
        cursor.window.read += page.entries.len() as u32;
        for entry in &page.entries {
            if let Some(stamp) = entry
                .first(cursor.tracking.attribute())
                .and_then(|s| cursor.tracking.parse(s))
            {
                cursor.newest_seen = cursor.newest_seen.max(stamp);
                cursor.window.note(stamp, cursor.until);
            }
            let record = match cursor.phase {
                Phase::Users => user_record(entry, &map, cursor.tracking),
                _ => group_record(&directory, entry, &map, cursor.tracking)?,
            };
            match record {
                Some(record) => records.push(record),
                None => log::warn(format!(
                    "skipped {}: it has no {} to identify it by",
                    entry.dn, map.id
                )),
            }
        }
        match page.cookie.filter(|c| !c.is_empty()) {
            Some(more) => {
                if end.is_some() && cursor.window.read >= most && cursor.window.width > 1 {
                    let before = cursor.window.width;
                    cursor.window.narrow(cursor.until, target);
                    log::debug(format!(
                        "{:?}: {} stamps from {} held more than {most} entries; now {}",
                        cursor.phase, before, cursor.window.start, cursor.window.width
                    ));
                } else {
                    cursor.window.cookie = Some(hex(&more));
                }
                break;
            }
            None if end.is_some() => cursor.window.advance(cursor.until, target),
            None => next_phase(&mut cursor),
        }
        if records.len() >= page_size as usize {
            break;
        }
    }
    let has_more = cursor.phase != Phase::Done;
    let cursor = serde_json::to_string(&cursor).map_err(|e| Error::fatal(e.to_string()))?;
    Ok(if has_more {
        SyncPage::more(records, cursor)
    } else {
        SyncPage::done(records, Some(cursor))
    })
}

fn next_phase(cursor: &mut Cursor) {
    match cursor.phase {
        Phase::Users => {
            cursor.phase = Phase::Groups;
            cursor.window = Window::first(cursor.since, cursor.until);
        }
        _ => {
            cursor.phase = Phase::Done;
            cursor.since = match cursor.tracking {
                Tracking::Timestamp => (cursor.newest_seen - TIMESTAMP_OVERLAP_SECONDS).max(0),
                _ => cursor.until.max(cursor.since - 1) + 1,
            };
            cursor.window = Window::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cube_connector_sdk::ldap::{Attribute, Entry, SearchPage};
    use cube_connector_sdk::testing;
    use std::sync::{Arc, Mutex};

    const NTDS: &str =
        "CN=NTDS Settings,CN=DC1,CN=Servers,CN=Site,CN=Sites,CN=Configuration,DC=corp";

    fn attribute(name: &str, value: &[u8]) -> Attribute {
        Attribute {
            name: name.into(),
            values: vec![value.to_vec()],
        }
    }

    /// An Active Directory as the doubles answer it: a root DSE with
    /// `highestCommittedUSN` 5000, a DC whose `invocationId` is `invocation`,
    /// and one user changed at USN 4711. Returns the filters searched.
    fn active_directory(invocation: [u8; 16]) -> Arc<Mutex<Vec<String>>> {
        testing::reset();
        let filters = Arc::new(Mutex::new(Vec::new()));
        let seen = filters.clone();
        testing::on_ldap_search(move |request| {
            seen.lock().unwrap().push(request.filter.clone());
            let entries = match request.base.as_str() {
                "" => vec![Entry {
                    dn: String::new(),
                    attributes: vec![
                        attribute("highestCommittedUSN", b"5000"),
                        attribute("dsServiceName", NTDS.as_bytes()),
                    ],
                }],
                NTDS => vec![Entry {
                    dn: NTDS.into(),
                    attributes: vec![attribute("invocationId", &invocation)],
                }],
                // The bases: created at USN 4100.
                _ if request.filter == "(objectClass=*)" => vec![Entry {
                    dn: request.base.clone(),
                    attributes: vec![attribute("uSNCreated", b"4100")],
                }],
                _ if request.filter.contains("objectClass=user")
                    && in_window(&request.filter, 4711) =>
                {
                    vec![Entry {
                        dn: "CN=Ada,OU=People,DC=corp".into(),
                        attributes: vec![
                            attribute("objectGUID", &[7; 16]),
                            attribute("sAMAccountName", b"ada"),
                            attribute("uSNChanged", b"4711"),
                            attribute("userAccountControl", b"512"),
                        ],
                    }]
                }
                _ => Vec::new(),
            };
            Ok(SearchPage {
                entries,
                referrals: Vec::new(),
                cookie: None,
            })
        });
        filters
    }

    /// Whether a window's filter matches an entry changed at `usn`.
    fn in_window(filter: &str, usn: i64) -> bool {
        let bound = |prefix: &str| {
            filter
                .split(prefix)
                .nth(1)
                .map(|rest| rest[..rest.find(')').unwrap()].parse::<i64>().unwrap())
        };
        bound("(uSNChanged>=").is_none_or(|low| usn >= low)
            && bound("(uSNChanged<=").is_none_or(|high| usn <= high)
    }

    fn config() -> Config {
        serde_json::from_value(serde_json::json!({
            "server": "dc1.corp", "bind_dn": "CN=sync,DC=corp", "password": "pw",
            "base_dn": "DC=corp", "page_size": 100
        }))
        .unwrap()
    }

    /// Syncs to the end; returns the records and the final cursor.
    fn run(mode: SyncMode, cursor: Option<String>) -> (Vec<Record>, Cursor) {
        let mut cursor = cursor;
        let mut records = Vec::new();
        for _ in 0..100 {
            let page = sync(
                &config(),
                SyncInput {
                    mode,
                    cursor: cursor.take(),
                    dry_run: false,
                    page_size: 100,
                },
            )
            .unwrap();
            records.extend(page.records);
            cursor = page.cursor;
            if !page.has_more {
                let done: Cursor = serde_json::from_str(cursor.as_deref().unwrap()).unwrap();
                return (records, done);
            }
        }
        panic!("the sync never ended");
    }

    #[test]
    fn active_directory_syncs_follow_usns_of_one_invocation() {
        let filters = active_directory([1; 16]);
        let (records, done) = run(SyncMode::Full, None);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].version.as_deref(), Some("4711"));
        assert_eq!(done.tracking, Tracking::Usn);
        assert_eq!(
            done.invocation.as_deref(),
            Some("01010101-0101-0101-0101-010101010101")
        );
        assert_eq!(
            done.since, 5001,
            "the next sync starts after the newest USN"
        );
        // Windows walk from the bases' creation to the newest USN, then one
        // open window for changes made meanwhile.
        let searched = filters.lock().unwrap().clone();
        assert!(
            searched.iter().any(|f| f.contains("(uSNChanged>=4100)")),
            "{searched:?}"
        );
        assert!(
            searched.iter().any(|f| f.contains("(uSNChanged<=5000)")),
            "{searched:?}"
        );
        assert!(
            searched.iter().any(|f| f.ends_with("(uSNChanged>=5001))")),
            "{searched:?}"
        );

        // The same DC: an incremental sync reads only USNs after the last.
        let filters = active_directory([1; 16]);
        let (_, again) = run(
            SyncMode::Incremental,
            Some(serde_json::to_string(&done).unwrap()),
        );
        let searched = filters.lock().unwrap().clone();
        assert!(
            searched
                .iter()
                .filter(|f| f.contains("uSNChanged"))
                .all(|f| f.contains("(uSNChanged>=5001)")),
            "{searched:?}"
        );
        assert_eq!(again.since, 5001);

        // Another invocationId (a restore, another DC behind the name): its
        // USNs say nothing about ours, so everything is read again.
        let filters = active_directory([2; 16]);
        let (records, moved) = run(
            SyncMode::Incremental,
            Some(serde_json::to_string(&done).unwrap()),
        );
        assert_eq!(records.len(), 1);
        assert_eq!(
            moved.invocation.as_deref(),
            Some("02020202-0202-0202-0202-020202020202")
        );
        let searched = filters.lock().unwrap().clone();
        assert!(
            searched.iter().any(|f| f.contains("(uSNChanged>=4100)")),
            "{searched:?}"
        );
        assert!(
            testing::logs()
                .iter()
                .any(|(_, m)| m.contains("invocationId changed")),
            "{:?}",
            testing::logs()
        );
    }

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

    #[test]
    fn finished_syncs_hand_the_next_one_its_start() {
        let mut cursor = Cursor {
            v: 1,
            tracking: Tracking::Usn,
            invocation: None,
            since: 10,
            until: 500,
            phase: Phase::Users,
            window: Window::first(10, 500),
            newest_seen: 480,
        };
        next_phase(&mut cursor);
        assert_eq!(cursor.phase, Phase::Groups);
        assert_eq!(cursor.window.start, 10);
        next_phase(&mut cursor);
        assert_eq!((cursor.phase, cursor.since), (Phase::Done, 501));
        cursor.tracking = Tracking::Timestamp;
        cursor.phase = Phase::Groups;
        cursor.newest_seen = 1_000_000;
        next_phase(&mut cursor);
        assert_eq!(cursor.since, 1_000_000 - TIMESTAMP_OVERLAP_SECONDS);
        assert_eq!(unhex(&hex(&[0, 1, 254, 255])), Some(vec![0, 1, 254, 255]));
        assert_eq!(unhex("0g"), None);
    }
}
