//! One paged search per phase, in the server's order: how a phase is read
//! where stamp ranges are dear for the server.
//!
//! On OpenLDAP a filter on a range of `entryCSN` or `modifyTimestamp` makes
//! the server walk its stamp index from each bound to the end of the index,
//! for every page: with 100,000 users, about 30 ms a page, so reading in
//! windows cost slapd 5 s of CPU where one plain paged search costs 0.6 s
//! (BENCHMARKS.md, decision 0022). So a full sync reads a phase with its
//! filter alone, then, in a second pass, what changed while it ran (a
//! one-sided range above the newest stamp at the start: a short walk). An
//! incremental sync reads what changed since the last one, one-sided too.
//!
//! A paged-results cookie dies with its connection. A resumed pass sends
//! the same search again, and the entries up to where the last attempt
//! stopped go by without being mapped or handed on, once their DNs, in
//! order, hash to what that attempt read (the server returns a paged search
//! in the order of its entry ids, so an unchanged directory gives the same
//! sequence). If they do not (an entry added, deleted or renamed before
//! that point), the pass is read again from its start and every entry
//! handed on: slower, never wrong. An entry changed after it was read gets
//! a newer stamp, so the second pass or the next incremental sync reads it.

use cube_connector_sdk::ldap::{Directory, Entry, LdapError};
use cube_connector_sdk::prelude::*;
use cube_connector_sdk::records::is_default;
use serde::{Deserialize, Serialize};

use super::{Cursor, Pause, Target, hex, next_phase, take, unhex};
use crate::config::Config;
use crate::tracking::Tracking;

/// Where a phase's paged search is.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Scan {
    /// 0: the phase's search; 1: (full syncs) what changed while it ran.
    #[serde(default)]
    pub pass: u8,
    /// The paged search's cookie (hex), valid on the connection that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
    /// Entries of this pass read so far...
    #[serde(default)]
    pub read: u64,
    /// ...and the FNV-1a hash of their DNs, in the order read.
    #[serde(default)]
    pub digest: u64,
    /// After a reconnect: how many entries to pass over and what their DNs
    /// must hash to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<Replay>,
    /// How often this pass was started again; part of the cursor so that a
    /// pass read again never hands the host the cursor it resumed from.
    #[serde(default, skip_serializing_if = "is_default")]
    pub restarts: u32,
}

/// The part of a pass an earlier attempt handed on.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct Replay {
    pub read: u64,
    pub digest: u64,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl Scan {
    /// Adds one entry's DN to the running hash.
    fn count(&mut self, entry: &Entry) {
        let mut hash = if self.read == 0 {
            FNV_OFFSET
        } else {
            self.digest
        };
        // The DN, then a separator no DN contains, so "ab","c" ≠ "a","bc".
        for byte in entry.dn.as_bytes().iter().chain(&[0xff]) {
            hash = (hash ^ u64::from(*byte)).wrapping_mul(FNV_PRIME);
        }
        self.digest = hash;
        self.read += 1;
    }

    /// Starts the pass again from its first entry.
    pub(super) fn restart(&mut self, replay: Option<Replay>) {
        *self = Scan {
            pass: self.pass,
            replay,
            restarts: self.restarts + 1,
            ..Scan::default()
        };
    }
}

/// The stamp filter of a pass, if it has one.
fn range(cursor: &Cursor, pass: u8) -> Option<String> {
    match pass {
        0 if cursor.whole => None,
        0 => Some(cursor.tracking.filter(cursor.since, None)),
        _ => Some(cursor.tracking.filter(cursor.until.saturating_add(1), None)),
    }
}

/// Whether a full sync reads what changed while its first pass ran. Only
/// where the server named its newest stamp at the start (`contextCSN`):
/// with `modifyTimestamp` alone there is no such mark, and the next
/// incremental sync, which starts a minute before the newest change seen,
/// reads those changes.
fn has_second_pass(cursor: &Cursor) -> bool {
    cursor.whole && cursor.tracking != Tracking::Timestamp && cursor.until >= cursor.since
}

/// Sends the current pass's search (or its next page) and takes its
/// entries; says whether the call should return now.
pub(super) fn step(
    directory: &Directory,
    config: &Config,
    target: &Target,
    cursor: &mut Cursor,
    records: &mut Vec<Record>,
) -> Result<Pause> {
    let mut scan = cursor.scan.clone().unwrap_or_default();
    let filter = match range(cursor, scan.pass) {
        Some(range) => format!("(&{}{range})", target.filter),
        None => target.filter.clone(),
    };
    let cookie = scan.cookie.as_deref().and_then(unhex);
    let resumed = cookie.is_some();
    let page = match target.send(directory, &filter, config.page_size(), cookie) {
        Ok(page) => page,
        // A cookie from a connection that is gone: ask again, and pass over
        // what was read if it is still what comes first.
        Err(LdapError::Server(_)) if resumed => {
            log::info(format!(
                "the paged search cannot go on after a reconnect; asking again and passing over \
                 the {} entries read before",
                scan.read
            ));
            let replay = Replay {
                read: scan.read,
                digest: scan.digest,
            };
            scan.restart(Some(replay).filter(|r| r.read > 0));
            cursor.scan = Some(scan);
            return Ok(Pause::No);
        }
        Err(e) => return Err(target.explain(config, e)),
    };
    for entry in &page.entries {
        scan.count(entry);
        match scan.replay {
            Some(replay) if scan.read < replay.read => continue,
            Some(replay) if scan.read == replay.read => {
                scan.replay = None;
                if scan.digest == replay.digest {
                    log::info(format!(
                        "passed over the {} entries read before the reconnect",
                        replay.read
                    ));
                    continue;
                }
                return Ok(read_again(cursor, scan));
            }
            _ => {}
        }
        take(directory, cursor, target, entry, records)?;
    }
    match page.cookie.filter(|c| !c.is_empty()) {
        Some(more) => {
            scan.cookie = Some(hex(&more));
            // Passing over entries hands nothing on: go on in this call.
            let pause = if scan.replay.is_some() {
                Pause::No
            } else {
                Pause::Yes
            };
            cursor.scan = Some(scan);
            Ok(pause)
        }
        // Fewer entries than were read before: something went.
        None if scan.replay.is_some() => Ok(read_again(cursor, scan)),
        None if scan.pass == 0 && has_second_pass(cursor) => {
            cursor.scan = Some(Scan {
                pass: 1,
                ..Scan::default()
            });
            Ok(Pause::No)
        }
        None => {
            next_phase(cursor);
            Ok(Pause::No)
        }
    }
}

/// The entries before the cut are not the ones read then: read the pass
/// again from its start, handing every entry on.
fn read_again(cursor: &mut Cursor, mut scan: Scan) -> Pause {
    log::warn(
        "the directory changed before the point where the connection was lost; reading this \
         part of the sync again from its start",
    );
    scan.restart(None);
    cursor.scan = Some(scan);
    Pause::No
}

#[cfg(test)]
mod tests {
    use super::super::{Cursor, sync};
    use crate::config::Config;
    use cube_connector_sdk::ldap::{Attribute, Entry, LdapError, SearchPage};
    use cube_connector_sdk::prelude::*;
    use cube_connector_sdk::testing;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// An OpenLDAP as the doubles answer it: ten users whose entryCSNs are
    /// one second apart, pages of three, and cookies that name the
    /// connection they were made on (`connection`, bumped to reconnect).
    struct Slapd {
        users: Vec<String>,
        connection: u8,
        filters: Vec<String>,
    }

    const CONTEXT_CSN: &str = "20261127100100.000000Z#000000#000#000000";

    fn csn(i: usize) -> String {
        format!(
            "20261127100{}{:02}.000000Z#000000#000#000000",
            i / 60,
            i % 60
        )
    }

    fn attribute(name: &str, value: &str) -> Attribute {
        Attribute {
            name: name.into(),
            values: vec![value.as_bytes().to_vec()],
        }
    }

    fn slapd() -> Rc<RefCell<Slapd>> {
        testing::reset();
        let state = Rc::new(RefCell::new(Slapd {
            users: (1..=10).map(|i| format!("u{i:02}")).collect(),
            connection: 0,
            filters: Vec::new(),
        }));
        let seen = state.clone();
        testing::on_ldap_search(move |request| {
            let mut slapd = seen.borrow_mut();
            let entry = |dn: &str, attributes| Entry {
                dn: dn.into(),
                attributes,
            };
            let entries = match request.base.as_str() {
                "" => vec![entry("", vec![attribute("namingContexts", "dc=example")])],
                "dc=example" => vec![entry(
                    "dc=example",
                    vec![attribute("contextCSN", CONTEXT_CSN)],
                )],
                _ if request.filter == "(objectClass=*)" => vec![entry(
                    &request.base,
                    vec![attribute("createTimestamp", "20261127100000Z")],
                )],
                "ou=People,dc=example" => {
                    slapd.filters.push(request.filter.clone());
                    if request.filter.contains("entryCSN>=") {
                        // Nothing changed during the sync.
                        Vec::new()
                    } else {
                        let start = match &request.cookie {
                            None => 0,
                            Some(c) if c[0] == slapd.connection => c[1] as usize,
                            Some(_) => {
                                return Err(LdapError::Server((
                                    53,
                                    "paged results cookie is invalid".into(),
                                )));
                            }
                        };
                        let end = (start + 3).min(slapd.users.len());
                        let page: Vec<Entry> = slapd.users[start..end]
                            .iter()
                            .enumerate()
                            .map(|(i, uid)| {
                                entry(
                                    &format!("uid={uid},ou=People,dc=example"),
                                    vec![
                                        attribute("entryUUID", &format!("{uid}-uuid")),
                                        attribute("uid", uid),
                                        attribute("entryCSN", &csn(start + i)),
                                    ],
                                )
                            })
                            .collect();
                        let cookie =
                            (end < slapd.users.len()).then(|| vec![slapd.connection, end as u8]);
                        return Ok(SearchPage {
                            entries: page,
                            referrals: Vec::new(),
                            cookie,
                        });
                    }
                }
                _ => Vec::new(),
            };
            Ok(SearchPage {
                entries,
                referrals: Vec::new(),
                cookie: None,
            })
        });
        state
    }

    fn config() -> Config {
        serde_json::from_value(serde_json::json!({
            "server": "ldap.example", "bind_dn": "cn=sync,dc=example", "password": "pw",
            "base_dn": "dc=example", "preset": "openldap", "page_size": 3,
            "user_base": "ou=People,dc=example", "group_base": "ou=Groups,dc=example",
        }))
        .unwrap()
    }

    fn call(cursor: Option<String>) -> SyncPage {
        sync(
            &config(),
            SyncInput {
                mode: SyncMode::Full,
                cursor,
                dry_run: false,
                page_size: 3,
            },
        )
        .unwrap()
    }

    fn ids(records: &[Record]) -> Vec<String> {
        records
            .iter()
            .filter(|r| r.kind == "user")
            .map(|r| r.external_id.trim_end_matches("-uuid").to_owned())
            .collect()
    }

    /// Calls until the sync ends; returns the user ids handed on.
    fn finish(mut cursor: Option<String>) -> Vec<String> {
        let mut users = Vec::new();
        for _ in 0..50 {
            let page = call(cursor.take());
            users.extend(ids(&page.records));
            if !page.has_more {
                return users;
            }
            cursor = page.cursor;
        }
        panic!("the sync never ended");
    }

    #[test]
    fn a_full_sync_is_one_plain_search_then_the_changes_made_meanwhile() {
        let slapd = slapd();
        let users = finish(None);
        assert_eq!(users.len(), 10);
        let filters = slapd.borrow().filters.clone();
        assert!(
            filters[..4]
                .iter()
                .all(|f| f == "(objectClass=inetOrgPerson)"),
            "the entries are read with the filter alone: {filters:?}"
        );
        assert_eq!(
            filters[4..],
            ["(&(objectClass=inetOrgPerson)(entryCSN>=20261127100100.000001Z#000000#000#000000))"],
            "then what changed after the newest stamp at the start"
        );
    }

    /// Reads two pages, then the connection is lost; returns the cursor.
    fn two_pages_then_reconnect(slapd: &Rc<RefCell<Slapd>>) -> (Vec<String>, String) {
        let first = call(None);
        let second = call(first.cursor.clone());
        let mut read = ids(&first.records);
        read.extend(ids(&second.records));
        assert_eq!(read.len(), 6);
        slapd.borrow_mut().connection += 1;
        (read, second.cursor.unwrap())
    }

    #[test]
    fn a_resumed_scan_passes_over_what_it_had_read() {
        let slapd = slapd();
        let (before, cursor) = two_pages_then_reconnect(&slapd);
        let after = finish(Some(cursor.clone()));
        assert_eq!(
            after,
            ["u07", "u08", "u09", "u10"],
            "read before: {before:?}"
        );
        assert!(
            testing::logs()
                .iter()
                .any(|(_, m)| m.contains("passed over the 6 entries")),
            "{:?}",
            testing::logs()
        );
        let resumed: Cursor = serde_json::from_str(&cursor).unwrap();
        assert_eq!(resumed.scan.unwrap().read, 6);
    }

    #[test]
    fn a_resumed_scan_reads_everything_again_when_the_start_changed() {
        let slapd = slapd();
        let (_, cursor) = two_pages_then_reconnect(&slapd);
        // u02 is deleted: the sixth entry is now u07, which was never read.
        slapd.borrow_mut().users.remove(1);
        let after = finish(Some(cursor));
        assert_eq!(
            after,
            [
                "u01", "u03", "u04", "u05", "u06", "u07", "u08", "u09", "u10"
            ],
            "nothing is missed"
        );
        assert!(
            testing::logs()
                .iter()
                .any(|(_, m)| m.contains("the directory changed before the point")),
            "{:?}",
            testing::logs()
        );
    }

    #[test]
    fn a_resumed_scan_that_finds_fewer_entries_reads_them_all_again() {
        let slapd = slapd();
        let (_, cursor) = two_pages_then_reconnect(&slapd);
        slapd.borrow_mut().users.truncate(5);
        let after = finish(Some(cursor));
        assert_eq!(after, ["u01", "u02", "u03", "u04", "u05"]);
    }
}
