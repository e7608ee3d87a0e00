//! Directory entries turned into CUBE's `user` and `group` records.

use cube_connector_sdk::ldap::{Directory, Entry, EntryExt, Scope};
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
/// ranged retrieval: a group with more members than the server returns at
/// once (1,500 by default) answers `member;range=0-1499`, and the rest is
/// read range by range.
fn all_values(directory: &Directory, entry: &Entry, name: &str) -> Result<Vec<String>> {
    let mut values: Vec<String> = entry.texts(name).into_iter().map(str::to_owned).collect();
    let prefix = format!("{};range=", name.to_lowercase());
    let mut ranged = entry
        .attributes
        .iter()
        .find(|a| a.name.to_lowercase().starts_with(&prefix))
        .cloned();
    while let Some(attribute) = ranged.take() {
        values.extend(
            attribute
                .values
                .iter()
                .filter_map(|v| String::from_utf8(v.clone()).ok()),
        );
        let range = &attribute.name[prefix.len()..];
        let Some((_, end)) = range.split_once('-') else {
            break;
        };
        let Ok(end) = end.parse::<u64>() else {
            break; // `*`: the last range.
        };
        let wanted = format!("{name};range={}-*", end + 1);
        let page = directory
            .search(&entry.dn, "(objectClass=*)")
            .scope(Scope::Base)
            .attributes(&[wanted.as_str()])
            .send()?;
        ranged = page.entries.into_iter().next().and_then(|e| {
            e.attributes
                .into_iter()
                .find(|a| a.name.to_lowercase().starts_with(&prefix))
        });
    }
    Ok(values)
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
    use cube_connector_sdk::ldap::Attribute;

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
