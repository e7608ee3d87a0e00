//! Reading users, then groups, each phase in one of two ways.
//!
//! A paged-results cookie lives only as long as the connection that made
//! it. The host keeps a job's connection across `sync` calls, so within one
//! attempt the cookie goes into the cursor and paging goes on; after a crash,
//! or a server that dropped the connection, the cookie is worthless and the
//! cursor must say enough to go on without reading everything again.
//!
//! - Where stamp ranges are cheap for the server (`uSNChanged`: Active
//!   Directory's indexes are ordered), a phase walks the stamps in windows
//!   ([`windows`]); a resumed sync reads its window again.
//! - Elsewhere (`entryCSN`, `modifyTimestamp`: OpenLDAP walks its whole
//!   stamp index for every page of a range), a phase is one paged search in
//!   the server's order ([`scan`]); a resumed sync asks again and passes over
//!   what it had read once the DNs say it is the same.
//!
//! Decision 0022 has the measurements.

mod deleted;
mod scan;
mod windows;

use cube_connector_sdk::encode::{hex, unhex};
use cube_connector_sdk::ldap::{Directory, Entry, LdapError, SearchPage};
use cube_connector_sdk::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::{AttributeMap, Config};
use crate::entries::{group_attributes, group_record, user_attributes, user_record};
use crate::server::{self, ServerState};
use crate::tracking::Tracking;
pub use scan::{Replay, Scan};
pub use windows::Window;

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
    /// Incremental syncs: the tombstones of what was deleted ([`deleted`]).
    Deleted,
    Done,
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
    /// Whether this sync reads every entry (a full sync, or an incremental
    /// one that cannot trust the last cursor).
    #[serde(default)]
    pub whole: bool,
    pub phase: Phase,
    /// Where the phase is, when it walks windows.
    #[serde(default)]
    pub window: Window,
    /// Where the phase is, when it is one paged search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan: Option<Scan>,
    /// The newest stamp seen in this sync.
    #[serde(default)]
    pub newest_seen: i64,
}

/// Whether a phase walks windows of stamps (else it is one paged search).
fn walks_windows(tracking: Tracking) -> bool {
    tracking == Tracking::Usn
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
    let (since, whole) = match (input.mode, previous) {
        (SyncMode::Incremental, Some(prev))
            if prev.tracking == tracking && prev.invocation == invocation =>
        {
            (prev.since, false)
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
            (oldest(), true)
        }
        _ => (oldest(), true),
    };
    let until = newest.unwrap_or(since - 1);
    Ok(Cursor {
        v: 1,
        tracking,
        invocation,
        since,
        until,
        whole,
        phase: Phase::Users,
        window: Window::first(since, until),
        scan: None,
        newest_seen: since,
    })
}

/// What a phase searches: where, for what, which attributes.
struct Target<'a> {
    base: &'a str,
    filter: String,
    attributes: Vec<String>,
    map: &'a AttributeMap,
}

impl<'a> Target<'a> {
    fn of(config: &'a Config, map: &'a AttributeMap, phase: Phase, tracking: Tracking) -> Self {
        let (base, filter, attributes) = match phase {
            Phase::Users => (
                config.user_base(),
                config.user_filter(),
                user_attributes(map, tracking),
            ),
            _ => (
                config.group_base(),
                config.group_filter(),
                group_attributes(map, tracking),
            ),
        };
        Target {
            base,
            filter,
            attributes,
            map,
        }
    }

    fn send(
        &self,
        directory: &Directory,
        filter: &str,
        page_size: u32,
        cookie: Option<Vec<u8>>,
    ) -> std::result::Result<SearchPage, LdapError> {
        let names: Vec<&str> = self.attributes.iter().map(String::as_str).collect();
        directory
            .search(self.base, filter)
            .attributes(&names)
            .page_size(page_size)
            .cookie(cookie)
            .send()
    }

    /// What a failed search means for the admin.
    fn explain(&self, config: &Config, error: LdapError) -> Error {
        match error {
            LdapError::NoSuchObject(_) => Error::config(format!(
                "The search base {} does not exist on {}.",
                self.base,
                config.url()
            )),
            e => server::explain(config, e),
        }
    }
}

/// Whether the call should return after a search.
#[derive(Debug, PartialEq, Eq)]
enum Pause {
    /// A page was read and the next needs the cookie: return it.
    Yes,
    /// Go on with the next search, if the page is not full yet.
    No,
}

/// Turns one entry into a record (or a warning when it has no stable id)
/// and notes its stamp, which it returns.
fn take(
    directory: &Directory,
    cursor: &mut Cursor,
    target: &Target,
    entry: &Entry,
    records: &mut Vec<Record>,
) -> Result<Option<i64>> {
    let stamp = entry
        .first(cursor.tracking.attribute())
        .and_then(|s| cursor.tracking.parse(s));
    if let Some(stamp) = stamp {
        cursor.newest_seen = cursor.newest_seen.max(stamp);
    }
    let record = match cursor.phase {
        Phase::Users => user_record(entry, target.map, cursor.tracking),
        _ => group_record(directory, entry, target.map, cursor.tracking)?,
    };
    match record {
        Some(record) => records.push(record),
        None => log::warn(format!(
            "skipped {}: it has no {} to identify it by",
            entry.dn, target.map.id
        )),
    }
    Ok(stamp)
}

/// Reads the next page of the sync.
pub fn sync(config: &Config, input: SyncInput) -> Result<SyncPage> {
    let directory = server::open(config)?;
    let mut cursor = start(&directory, config, &input)?;
    let map = config.attributes();
    let page_size = config.page_size();
    let mut records = Vec::new();
    let mut searches = 0;
    while cursor.phase != Phase::Done && searches < SEARCHES_PER_CALL {
        searches += 1;
        let pause = if cursor.phase == Phase::Deleted {
            deleted::step(&directory, config, &map, &mut cursor, &mut records)?
        } else {
            let target = Target::of(config, &map, cursor.phase, cursor.tracking);
            if walks_windows(cursor.tracking) {
                windows::step(&directory, config, &target, &mut cursor, &mut records)?
            } else {
                scan::step(&directory, config, &target, &mut cursor, &mut records)?
            }
        };
        if pause == Pause::Yes || records.len() >= page_size as usize {
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
            cursor.scan = None;
        }
        Phase::Groups if deleted::wanted(cursor) => {
            cursor.phase = Phase::Deleted;
            cursor.window = Window::default();
            cursor.scan = None;
        }
        _ => {
            cursor.phase = Phase::Done;
            cursor.since = match cursor.tracking {
                Tracking::Timestamp => (cursor.newest_seen - TIMESTAMP_OVERLAP_SECONDS).max(0),
                _ => cursor.until.max(cursor.since - 1) + 1,
            };
            cursor.window = Window::default();
            cursor.scan = None;
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
    fn finished_syncs_hand_the_next_one_its_start() {
        let mut cursor = Cursor {
            v: 1,
            tracking: Tracking::Usn,
            invocation: None,
            since: 10,
            until: 500,
            whole: true,
            phase: Phase::Users,
            window: Window::first(10, 500),
            scan: None,
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
