//! Deletions between full syncs, where the directory shows them.
//!
//! A deleted entry is simply gone from a search, so an incremental sync,
//! which reads what changed, cannot see it: only a full sync, by what it
//! did not read, finds it. Active Directory keeps a deleted object for the
//! tombstone lifetime as a tombstone in the domain's Deleted Objects
//! container, with its `objectGUID`, its `objectClass` and a new
//! `uSNChanged`, visible to a search that carries the "show deleted"
//! control (1.2.840.113556.1.4.417). So an incremental sync ends with one
//! more phase: the tombstones changed since the last sync, handed on as
//! deletions of the users and groups with those stable ids.
//!
//! Where that cannot work, the sync goes on without it and says so once
//! in its log; the deletion then waits for the next full sync: a server
//! without the control (OpenLDAP: 12 unavailableCriticalExtension), no
//! such container (32), or a bind account that may not read it (50
//! insufficientAccessRights, or, as Active Directory and Samba answer an
//! account that is not an administrator by default, the container without
//! its attributes and no tombstones at all, which is why the container is
//! read first). Decision 0032 says how to grant the right.

use cube_connector_sdk::ldap::{Directory, EntryExt, LdapError, Scope};
use cube_connector_sdk::prelude::*;

use super::{Cursor, Pause, hex, next_phase, unhex};
use crate::config::{AttributeMap, Config};
use crate::entries::stable_id;
use crate::server;

/// Reads the next page of tombstones; says whether the call should return.
pub(super) fn step(
    directory: &Directory,
    config: &Config,
    map: &AttributeMap,
    cursor: &mut Cursor,
    records: &mut Vec<Record>,
) -> Result<Pause> {
    let Some(base) = server::deleted_objects(directory, config) else {
        let why = format!(
            "{} names no naming context for {}, so no Deleted Objects container",
            config.url(),
            config.base_dn
        );
        return without(config, cursor, why);
    };
    let mut scan = cursor.scan.clone().unwrap_or_default();
    let filter = format!(
        "(&(isDeleted=TRUE){}(|(objectClass=user)(objectClass=group)))",
        cursor.tracking.filter(cursor.since, None)
    );
    let cookie = scan.cookie.as_deref().and_then(unhex);
    let resumed = cookie.is_some();
    if !resumed && let Some(why) = unreadable(directory, config, &base)? {
        return without(config, cursor, why);
    }
    let attributes = [
        map.id.as_str(),
        "objectClass",
        "lastKnownParent",
        cursor.tracking.attribute(),
    ];
    let page = directory
        .search(&base, &filter)
        .attributes(&attributes)
        .page_size(config.page_size())
        .cookie(cookie)
        .show_deleted()
        .send();
    let page = match page {
        Ok(page) => page,
        // A cookie from a connection that is gone: read the tombstones
        // again from the first (a deletion handed on twice is harmless).
        Err(LdapError::Server(_)) if resumed => {
            scan.restart(None);
            cursor.scan = Some(scan);
            return Ok(Pause::No);
        }
        Err(error) => return without(config, cursor, refusal(config, &base, error)?),
    };
    for entry in &page.entries {
        let Some(id) = stable_id(entry, &map.id) else {
            continue;
        };
        let group = entry
            .texts("objectClass")
            .iter()
            .any(|class| class.eq_ignore_ascii_case("group"));
        let synced_under = if group {
            config.group_base()
        } else {
            config.user_base()
        };
        if was_under(entry.first("lastKnownParent"), synced_under) {
            records.push(Record::deleted(if group { "group" } else { "user" }, id));
        }
    }
    match page.cookie.filter(|c| !c.is_empty()) {
        Some(more) => {
            scan.cookie = Some(hex(&more));
            // Pages read, so that each page's cursor is new: Samba hands
            // out the same cookie for every page of a search.
            scan.read += 1;
            cursor.scan = Some(scan);
            Ok(Pause::Yes)
        }
        None => {
            next_phase(cursor);
            Ok(Pause::No)
        }
    }
}

/// Why the bind account cannot read the tombstones in `base`, if it
/// cannot: the container itself, read with the control, shows whether it
/// is deleted-objects territory to this account (an account without the
/// right sees the container's name and none of its attributes, and would
/// see no tombstones either, without an error).
fn unreadable(directory: &Directory, config: &Config, base: &str) -> Result<Option<String>> {
    let page = directory
        .search(base, "(objectClass=*)")
        .scope(Scope::Base)
        .attributes(&["isDeleted"])
        .show_deleted()
        .send();
    match page {
        Ok(page) if page.entries.iter().any(|e| e.first("isDeleted").is_some()) => Ok(None),
        Ok(_) => Ok(Some(format!(
            "the bind account {} may not list {base}",
            config.bind_dn.trim()
        ))),
        Err(error) => refusal(config, base, error).map(Some),
    }
}

/// What a refused search of the tombstones means, when it means the
/// directory will not show them (else the error, for the sync to fail on).
fn refusal(config: &Config, base: &str, error: LdapError) -> Result<String> {
    match error {
        LdapError::Server((12, _)) => Ok(format!(
            "{} does not support the show-deleted control (it is not Active Directory)",
            config.url()
        )),
        LdapError::Server((50, m)) => Ok(format!(
            "the bind account {} may not read {base} ({m})",
            config.bind_dn.trim()
        )),
        LdapError::NoSuchObject(_) => Ok(format!("{} has no {base}", config.url())),
        other => Err(server::explain(config, other)),
    }
}

/// Ends the phase without the tombstones, saying so in the sync's log.
fn without(config: &Config, cursor: &mut Cursor, why: String) -> Result<Pause> {
    log::warn(format!(
        "{why}: this incremental sync does not see deletions; the next full sync finds them \
         (to see them sooner on Active Directory, let {} list the Deleted Objects container)",
        config.bind_dn.trim()
    ));
    next_phase(cursor);
    Ok(Pause::No)
}

/// Whether a tombstone whose `lastKnownParent` is `parent` may have been
/// synced from under `base`: the container it was deleted from lies there,
/// or is itself deleted (its DN then names its own tombstone in Deleted
/// Objects), or is not known. Tombstones from elsewhere in the domain are not handed on; the
/// host would find nothing to delete for them, but would count them read.
fn was_under(parent: Option<&str>, base: &str) -> bool {
    let key = |dn: &str| dn.to_lowercase().replace(", ", ",");
    match parent {
        None => true,
        Some(parent) => {
            let parent = key(parent);
            let base = key(base);
            parent == base
                || parent.ends_with(&format!(",{base}"))
                || parent.contains("cn=deleted objects,")
        }
    }
}

/// The tombstones' phase belongs to incremental syncs that go on from the
/// last one: a sync that reads everything finds deletions by what it did
/// not see.
pub(super) fn wanted(cursor: &Cursor) -> bool {
    !cursor.whole
}

#[cfg(test)]
mod tests {
    use super::was_under;

    #[test]
    fn tombstones_count_when_they_were_deleted_under_the_base() {
        let base = "OU=People,DC=corp,DC=example";
        assert!(was_under(Some("OU=People,DC=corp,DC=example"), base));
        assert!(was_under(
            Some("OU=Lab, OU=People,DC=corp,DC=example"),
            base
        ));
        assert!(was_under(Some("ou=people,dc=corp,dc=example"), base));
        assert!(!was_under(Some("OU=Elsewhere,DC=corp,DC=example"), base));
        assert!(!was_under(Some("OU=NotPeople,DC=corp,DC=example"), base));
        // The container was deleted too: its DN is now its tombstone's.
        assert!(was_under(
            Some(
                "OU=Lab\\0ADEL:8a1c2f0e-6b3d-4a8e-9f00-1234567890ab,CN=Deleted Objects,DC=corp,DC=example"
            ),
            base
        ));
        assert!(was_under(None, base));
    }
}
