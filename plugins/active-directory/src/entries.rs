//! Directory entries turned into CUBE's `user` and `group` records.

use cube_connector_sdk::ldap::{Attribute, Directory, Entry, EntryExt, LdapError, Scope};
use cube_connector_sdk::prelude::*;
use cube_connector_sdk::stable_id;

use crate::config::{AttributeMap, Disabled};
use crate::tracking::Tracking;

/// `userAccountControl`'s ACCOUNTDISABLE bit.
const ACCOUNT_DISABLE: i64 = 0x2;

/// An entry's stable id as text (see [`cube_connector_sdk::stable_id`],
/// which the host uses too, to check the account behind a DN at sign-in).
pub fn stable_id(entry: &Entry, attribute: &str) -> Option<String> {
    stable_id::text_of(attribute, entry.values(attribute).first()?)
}

fn is_disabled(entry: &Entry, rule: &Disabled) -> bool {
    match rule {
        Disabled::AccountControl => entry
            .first("userAccountControl")
            .and_then(|v| v.trim().parse::<i64>().ok())
            .is_some_and(|flags| flags & ACCOUNT_DISABLE != 0),
        Disabled::Attribute { name, values } => {
            let present = entry.texts(name);
            if values.is_empty() {
                !entry.values(name).is_empty()
            } else {
                present
                    .iter()
                    .any(|p| values.iter().any(|v| v.eq_ignore_ascii_case(p.trim())))
            }
        }
        Disabled::Never => false,
    }
}

/// The attributes a user search asks for.
pub fn user_attributes(map: &AttributeMap, tracking: Tracking) -> Vec<String> {
    let mut names = vec![
        map.id.clone(),
        map.username.clone(),
        map.email.clone(),
        map.display_name.clone(),
        map.first_name.clone(),
        map.last_name.clone(),
        tracking.attribute().to_owned(),
        "cn".to_owned(),
    ];
    names.extend(map.principal_name.clone());
    match &map.disabled {
        Disabled::AccountControl => names.push("userAccountControl".into()),
        Disabled::Attribute { name, .. } => names.push(name.clone()),
        Disabled::Never => {}
    }
    names.sort_unstable_by_key(|n| n.to_lowercase());
    names.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    names
}

/// The attributes a group search asks for.
pub fn group_attributes(map: &AttributeMap, tracking: Tracking) -> Vec<String> {
    let mut names = vec![
        map.id.clone(),
        map.group_name.clone(),
        "cn".to_owned(),
        map.description.clone(),
        map.member.clone(),
        tracking.attribute().to_owned(),
    ];
    names.sort_unstable_by_key(|n| n.to_lowercase());
    names.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    names
}

/// A user record, or `None` for an entry without a stable id.
pub fn user_record(entry: &Entry, map: &AttributeMap, tracking: Tracking) -> Option<Record> {
    let id = stable_id(entry, &map.id)?;
    let text = |name: &str| entry.first(name);
    let mut builder = Record::builder("user", id)
        .field(
            "username",
            text(&map.username)
                .or_else(|| text("cn"))
                .unwrap_or_default(),
        )
        .field("email", text(&map.email))
        .field(
            "display_name",
            text(&map.display_name).or_else(|| text("cn")),
        )
        .field("first_name", text(&map.first_name))
        .field("last_name", text(&map.last_name))
        .field("dn", &entry.dn)
        // No `member_of`: which groups a user is in comes from what the
        // groups state (the host derives it; decision 0030). A user's own
        // memberOf is not re-read when only a group changes.
        .field("enabled", !is_disabled(entry, &map.disabled));
    if let Some(upn) = &map.principal_name {
        builder = builder.field("user_principal_name", text(upn));
    }
    if let Some(stamp) = entry.first(tracking.attribute()) {
        builder = builder.version(stamp);
    }
    Some(builder.build())
}

/// The values of a multi-valued attribute, following Active Directory's
/// ranged retrieval (MS-ADTS 3.1.1.3.1.3.3): an attribute with more values
/// than the server returns at once (MaxValRange, 1,500 by default) comes
/// back as `member;range=0-1499`, and the rest is read slice by slice with
/// base reads of `member;range=1500-*`, each answer naming the indexes it
/// holds, the last one ending in `*`.
///
/// Each slice must start where the last ended, so no value is skipped or
/// read twice; one that does not, or a server that stops answering slices
/// before the last, fails the group (a retry reads it again) rather than
/// storing part of its members.
fn all_values(directory: &Directory, entry: &Entry, name: &str) -> Result<Vec<String>> {
    let mut values: Vec<String> = entry.texts(name).into_iter().map(str::to_owned).collect();
    let prefix = format!("{};range=", name.to_lowercase());
    let is_ranged = |a: &&Attribute| a.name.to_lowercase().starts_with(&prefix);
    let Some(first) = entry.attributes.iter().find(is_ranged) else {
        return Ok(values);
    };
    let mut attribute = first.clone();
    // Values read so far, text or not: the index the next slice starts at.
    let mut read = 0usize;
    loop {
        let range = &attribute.name[prefix.len()..];
        let (low, high) = range.split_once('-').unwrap_or((range, ""));
        let unexpected = |what: &str| {
            Error::fatal(format!(
                "{}: the directory answered {} with {what}; ranged retrieval cannot go on",
                entry.dn, attribute.name
            ))
        };
        if low.parse::<usize>().ok() != Some(read) {
            return Err(unexpected(&format!(
                "a slice that does not start at index {read}, where the values read so far end"
            )));
        }
        read += attribute.values.len();
        values.extend(
            attribute
                .values
                .iter()
                .filter_map(|v| String::from_utf8(v.clone()).ok()),
        );
        if high == "*" {
            return Ok(values);
        }
        match high.parse::<usize>() {
            Ok(end) if end.checked_add(1) == Some(read) => {}
            _ => {
                return Err(unexpected(&format!(
                    "{} values for the slice it names",
                    attribute.values.len()
                )));
            }
        }
        let wanted = format!("{name};range={read}-*");
        let page = directory
            .search(&entry.dn, "(objectClass=*)")
            .scope(Scope::Base)
            .attributes(&[wanted.as_str()])
            .send()
            .map_err(|e| slice_failed(e, &entry.dn, &wanted))?;
        attribute = page
            .entries
            .into_iter()
            .next()
            .and_then(|e| e.attributes.into_iter().find(|a| is_ranged(&a)))
            .ok_or_else(|| {
                Error::transient(format!(
                    "{}: the directory returned no values for {wanted} after {read} values of \
                     {name}: the group changed while it was read? The sync tries again.",
                    entry.dn
                ))
            })?;
    }
}

/// A failed read of a slice, naming the group and the slice, and retried
/// as the server's error is (a group deleted meanwhile: read again).
fn slice_failed(error: LdapError, dn: &str, wanted: &str) -> Error {
    let gone = matches!(error, LdapError::NoSuchObject(_));
    let error = Error::from(error);
    let message = format!(
        "reading {wanted} of {dn} (ranged retrieval of a large group) failed: {}",
        error.message()
    );
    match error {
        _ if gone => Error::transient(message),
        Error::Config(_) => Error::config(message),
        Error::Auth(_) => Error::auth(message),
        Error::Unreachable(_) => Error::unreachable(message),
        Error::Transient(_) => Error::transient(message),
        Error::RateLimited(limit) => Error::rate_limited(limit.retry_after_ms, message),
        Error::Fatal(_) => Error::fatal(message),
    }
}

/// A group record with its members' DNs, or `None` without a stable id.
pub fn group_record(
    directory: &Directory,
    entry: &Entry,
    map: &AttributeMap,
    tracking: Tracking,
) -> Result<Option<Record>> {
    let Some(id) = stable_id(entry, &map.id) else {
        return Ok(None);
    };
    let members: Vec<String> = all_values(directory, entry, &map.member)?
        .into_iter()
        // groupOfUniqueNames may add `#'0101'B` (an optional UID) to a DN.
        .map(|dn| match dn.rsplit_once("#'") {
            Some((dn, _)) if map.member.eq_ignore_ascii_case("uniqueMember") => dn.to_owned(),
            _ => dn,
        })
        .collect();
    let name = entry
        .first(&map.group_name)
        .or_else(|| entry.first("cn"))
        .unwrap_or(&entry.dn)
        .to_owned();
    let mut builder = Record::builder("group", id)
        .field("name", name)
        .field("dn", &entry.dn)
        .field("description", entry.first(&map.description))
        .field("member_dns", members);
    if let Some(stamp) = entry.first(tracking.attribute()) {
        builder = builder.version(stamp);
    }
    Ok(Some(builder.build()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(attributes: &[(&str, &[&[u8]])]) -> Entry {
        Entry {
            dn: "CN=Ada,OU=People,DC=corp".into(),
            attributes: attributes
                .iter()
                .map(|(name, values)| Attribute {
                    name: (*name).into(),
                    values: values.iter().map(|v| v.to_vec()).collect(),
                })
                .collect(),
        }
    }

    /// A group entry whose first `member` slice is `first`, and a server
    /// that answers each later request with `answer(request)`; returns the
    /// members read (or the error) and the ranged requests sent.
    fn ranged(
        first: (&str, &[&[u8]]),
        answer: impl Fn(&str) -> Option<(String, Vec<Vec<u8>>)> + 'static,
    ) -> (Result<Vec<String>>, Vec<String>) {
        use cube_connector_sdk::ldap::{self, SearchPage, TlsMode};
        use cube_connector_sdk::testing;
        use std::sync::{Arc, Mutex};
        testing::reset();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let seen = asked.clone();
        testing::on_ldap_search(move |request| {
            let wanted = request.attributes.join(",");
            seen.lock().unwrap().push(wanted.clone());
            let attributes = answer(&wanted)
                .map(|(name, values)| vec![Attribute { name, values }])
                .unwrap_or_default();
            Ok(SearchPage {
                entries: vec![Entry {
                    dn: request.base.clone(),
                    attributes,
                }],
                referrals: vec![],
                cookie: None,
            })
        });
        let directory = ldap::connect("ldap://dc1", TlsMode::None).open().unwrap();
        let group = entry(&[first]);
        let values = all_values(&directory, &group, "member");
        let asked = asked.lock().unwrap().clone();
        (values, asked)
    }

    fn dns(names: &[&str]) -> Vec<Vec<u8>> {
        names.iter().map(|n| n.as_bytes().to_vec()).collect()
    }

    #[test]
    fn ranged_values_are_read_slice_by_slice_to_the_one_ending_in_a_star() {
        let (values, asked) =
            ranged(
                ("member;range=0-2", &[b"a", b"b", b"c"]),
                |wanted| match wanted {
                    "member;range=3-*" => Some(("member;range=3-5".into(), dns(&["d", "e", "f"]))),
                    "member;range=6-*" => Some(("member;range=6-*".into(), dns(&["g"]))),
                    _ => None,
                },
            );
        assert_eq!(values.unwrap(), ["a", "b", "c", "d", "e", "f", "g"]);
        assert_eq!(asked, ["member;range=3-*", "member;range=6-*"]);
        // Values that fit come back without a range: nothing more is asked.
        let (values, asked) = ranged(("member", &[b"a", b"b"]), |_| None);
        assert_eq!(values.unwrap(), ["a", "b"]);
        assert!(asked.is_empty());
    }

    #[test]
    fn slices_that_do_not_follow_on_fail_instead_of_looping_or_losing_members() {
        // The same slice again: before, this asked for it forever.
        let (values, asked) = ranged(("member;range=0-1", &[b"a", b"b"]), |_| {
            Some(("member;range=0-1".into(), dns(&["a", "b"])))
        });
        let error = values.unwrap_err();
        assert!(!error.is_retryable(), "{error:?}");
        assert!(
            error.message().contains("does not start at index 2"),
            "{error:?}"
        );
        assert_eq!(asked.len(), 1);
        // A slice that holds fewer values than it names.
        let (values, _) = ranged(("member;range=0-2", &[b"a", b"b"]), |_| None);
        assert!(
            values
                .unwrap_err()
                .message()
                .contains("2 values for the slice")
        );
        // No further slice at all: a retry reads the group again, rather
        // than storing a part of its members.
        let (values, _) = ranged(("member;range=0-1", &[b"a", b"b"]), |_| None);
        let error = values.unwrap_err();
        assert!(error.is_retryable(), "{error:?}");
        assert!(error.message().contains("member;range=2-*"), "{error:?}");
    }

    #[test]
    fn object_guids_render_in_their_canonical_form() {
        // The example from Microsoft's documentation of objectGUID's byte order.
        let bytes = [
            0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,
            0x0f, 0x10,
        ];
        let e = entry(&[("objectGUID", &[&bytes]), ("entryUUID", &[b"ABC-1"])]);
        assert_eq!(
            stable_id(&e, "objectGUID").unwrap(),
            "04030201-0605-0807-090a-0b0c0d0e0f10"
        );
        assert_eq!(stable_id(&e, "entryUUID").unwrap(), "abc-1");
        assert_eq!(stable_id(&e, "missing"), None);
    }

    #[test]
    fn disabled_accounts_are_recognised() {
        let ad = entry(&[("userAccountControl", &[b"514"])]);
        assert!(is_disabled(&ad, &Disabled::AccountControl));
        let enabled = entry(&[("userAccountControl", &[b"512"])]);
        assert!(!is_disabled(&enabled, &Disabled::AccountControl));
        let locked = entry(&[("pwdAccountLockedTime", &[b"000001010000Z"])]);
        let by_presence = Disabled::Attribute {
            name: "pwdAccountLockedTime".into(),
            values: vec![],
        };
        assert!(is_disabled(&locked, &by_presence));
        assert!(!is_disabled(&enabled, &by_presence));
        let by_value = Disabled::Attribute {
            name: "nsAccountLock".into(),
            values: vec!["true".into()],
        };
        assert!(is_disabled(
            &entry(&[("nsAccountLock", &[b"TRUE"])]),
            &by_value
        ));
        assert!(!is_disabled(
            &entry(&[("nsAccountLock", &[b"false"])]),
            &by_value
        ));
    }
}
