//! Synced directory users and groups, and their memberships.
//!
//! A connector states each group's direct members, by external id
//! (`members`) or by DN (`member_dns`, as LDAP gives them); those statements
//! are kept in `directory_group_members`. After a sync the host rebuilds
//! `directory_memberships` from them ([`Store::rebuild_memberships`]):
//! direct memberships by the members' external ids, then the effective ones
//! through nested groups, computed with a recursive query whose `UNION`
//! makes cycles harmless.
//!
//! A member stated by DN is pinned to the identity that holds the DN when
//! the group is read: the statement is rewritten to the member's external
//! id (its `objectGUID` or `entryUUID`) as soon as an entry with that DN is
//! stored, at the latest when the sync that read the group ends; a DN that
//! names nothing by then is not a member, and its statement is dropped. A
//! DN is only an address: when an account is deleted and another one later
//! created under the same DN, the new account must never inherit the old
//! one's groups through a statement the directory made about the old one
//! (Active Directory removes a deleted member from a group without bumping
//! the group's change stamp, so such a statement can outlive the account).
//!
//! A user's groups are only ever what the memberships say: a `member_of`
//! a connector sends with a user is not stored ([`stored_user_fields`]),
//! and the directory pages derive it from `directory_memberships`
//! ([`Store::directory_user`]). A stored copy would go stale whenever only a
//! group changes, since the user's entry (and its change stamp) stays as it
//! was and the user is not read again (decision 0030).
//!
//! Users and groups are identified by their stable id (an `objectGUID`, an
//! `entryUUID`), never by DN: when a synced entry comes back under a new DN
//! (a rename or a move), the groups that named it by its old DN are pointed
//! at the new one, because Active Directory does not bump the group's change
//! stamp when a member is renamed and the group may not be read again.

use serde_json::{Map, Value};
use sqlx::{AnyConnection, Row};

use super::now_millis;
use super::params::Params;
use crate::runtime::types::Record;
pub(in crate::store) use user_columns::UserColumns;

pub(in crate::store) mod changes;
mod feed;
mod keyset;
mod listing;
mod memberships;
mod relay;
mod user_columns;

pub use feed::*;
pub use keyset::*;
pub use listing::*;
pub use memberships::Membership;
pub(in crate::store) use memberships::rebuild_memberships_in;

/// A DN in the form used to compare DNs: lowercase, without the spaces
/// allowed around `,`, `=` and `+`. (Attribute values that differ only in
/// case are the same in the directories we sync: their naming attributes
/// compare case-insensitively.)
pub fn dn_key(dn: &str) -> String {
    let mut out = String::with_capacity(dn.len());
    let mut chars = dn.trim().chars().peekable();
    let mut escaped = false;
    while let Some(c) = chars.next() {
        if escaped {
            out.extend(c.to_lowercase());
            escaped = false;
            continue;
        }
        match c {
            '\\' => {
                out.push(c);
                escaped = true;
            }
            ',' | '=' | '+' => {
                while out.ends_with(' ') && !out.ends_with("\\ ") {
                    out.pop();
                }
                out.push(c);
                while chars.peek() == Some(&' ') {
                    chars.next();
                }
            }
            // ASCII first: nearly every DN is, and `to_lowercase` builds
            // an iterator per character.
            _ if c.is_ascii() => out.push(c.to_ascii_lowercase()),
            _ => out.extend(c.to_lowercase()),
        }
    }
    out
}

pub(in crate::store) fn text(fields: &Map<String, Value>, names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| match fields.get(*name) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// Points the group members that name `external_id`'s old DN (in `table`)
/// at its new DN. Run before the entry itself is updated.
async fn follow_rename(
    conn: &mut AnyConnection,
    table: &str,
    integration_id: i64,
    external_id: &str,
    new_key: &str,
) -> Result<(), sqlx::Error> {
    let old: Option<Option<String>> = sqlx::query_scalar(&format!(
        "SELECT dn_key FROM {table} WHERE integration_id = $1 AND external_id = $2"
    ))
    .bind(integration_id)
    .bind(external_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(Some(old)) = old else {
        return Ok(());
    };
    if old == new_key {
        return Ok(());
    }
    sqlx::query(
        "UPDATE directory_group_members SET member_key = $1 \
         WHERE integration_id = $2 AND member_by_dn = 1 AND member_key = $3 \
         AND NOT EXISTS (SELECT 1 FROM directory_group_members other \
           WHERE other.integration_id = directory_group_members.integration_id \
           AND other.group_external_id = directory_group_members.group_external_id \
           AND other.member_by_dn = 1 AND other.member_key = $1)",
    )
    .bind(new_key)
    .bind(integration_id)
    .bind(&old)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A user's fields as stored: the connector's JSON object, without a
/// `member_of` (see the module's docs). Borrowed when there is none, as
/// with the bundled directory connector, so a full sync copies nothing.
pub(in crate::store) fn stored_user_fields(fields: &str) -> std::borrow::Cow<'_, str> {
    if !fields.contains("\"member_of\"") {
        return std::borrow::Cow::Borrowed(fields);
    }
    match serde_json::from_str::<Map<String, Value>>(fields) {
        Ok(mut object) => {
            object.remove("member_of");
            std::borrow::Cow::Owned(Value::Object(object).to_string())
        }
        Err(_) => std::borrow::Cow::Borrowed(fields),
    }
}

/// A user to write: the record, its columns, and, when it was stored
/// before (only then can it have been renamed), whether it was enabled.
pub(in crate::store) type UserWrite<'a> = (&'a Record, UserColumns, Option<bool>);

/// What writing a user is, for the change feed: a user stored before and
/// now enabled or disabled is `enabled` or `disabled` rather than
/// `updated`.
fn user_change(before: Option<bool>, enabled: bool) -> &'static str {
    match (before, enabled) {
        (None, _) => "created",
        (Some(true), false) => "disabled",
        (Some(false), true) => "enabled",
        (Some(_), _) => "updated",
    }
}

/// Columns written per user.
const USER_COLUMNS: usize = 12;
/// Users per statement (with anonymous parameters on SQLite: see
/// [`Params`]). Storing 100,000 users took about 10% less CPU at 200 than
/// at 64, and no less at 500 or 1,000 (the benchmark's store-only path);
/// 200 rows bind 2,400 values, well under SQLite's 32,766 and PostgreSQL's
/// 65,535.
const USERS_PER_STATEMENT: usize = 200;

/// Inserts or updates users, a few dozen per statement (a full sync writes
/// tens of thousands), each write recorded in the change feed. A user
/// listed twice is written as last listed.
pub(in crate::store) async fn upsert_users(
    conn: &mut AnyConnection,
    integration_id: i64,
    users: &[UserWrite<'_>],
    seen: Option<i64>,
) -> Result<(), sqlx::Error> {
    let mut last: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    // What was stored before the page: a user listed twice was stored (or
    // not) as its first listing found it.
    let mut first_before: std::collections::HashMap<&str, Option<bool>> =
        std::collections::HashMap::new();
    for (n, (record, _, before)) in users.iter().enumerate() {
        last.insert(record.external_id.as_str(), n);
        first_before
            .entry(record.external_id.as_str())
            .or_insert(*before);
    }
    let mut rows = Vec::with_capacity(last.len());
    let mut change_of: std::collections::HashMap<&str, &'static str> =
        std::collections::HashMap::with_capacity(last.len());
    for (n, (record, columns, before)) in users.iter().enumerate() {
        if last.get(record.external_id.as_str()) != Some(&n) {
            continue;
        }
        let stored = first_before
            .get(record.external_id.as_str())
            .copied()
            .flatten();
        change_of.insert(
            record.external_id.as_str(),
            user_change(stored, columns.enabled),
        );
        let key = columns.dn.as_deref().map(dn_key);
        if let (true, Some(key)) = (before.is_some(), &key) {
            follow_rename(
                conn,
                "directory_users",
                integration_id,
                &record.external_id,
                key,
            )
            .await?;
        }
        rows.push((*record, columns, key, stored_user_fields(&record.fields)));
    }
    let now = now_millis();
    for chunk in rows.chunks(USERS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO directory_users (integration_id, external_id, username, email, display_name, \
             enabled, dn, dn_key, attributes_json, version, synced_at, seen_job) VALUES {} \
             ON CONFLICT (integration_id, external_id) DO UPDATE SET username = excluded.username, \
             email = excluded.email, display_name = excluded.display_name, enabled = excluded.enabled, \
             dn = excluded.dn, dn_key = excluded.dn_key, attributes_json = excluded.attributes_json, \
             version = excluded.version, synced_at = excluded.synced_at, \
             seen_job = COALESCE(excluded.seen_job, directory_users.seen_job)",
            Params::on(conn).rows(chunk.len(), USER_COLUMNS)
        );
        let mut query = sqlx::query(&sql);
        for (record, columns, key, fields) in chunk {
            let username = columns
                .username
                .as_deref()
                .unwrap_or(record.external_id.as_str());
            query = query
                .bind(integration_id)
                .bind(record.external_id.as_str())
                .bind(username)
                .bind(columns.email.as_deref())
                .bind(columns.display_name.as_deref())
                .bind(columns.enabled as i64)
                .bind(columns.dn.as_deref())
                .bind(key.as_deref())
                // The connector's JSON object (checked to be one).
                .bind(fields.as_ref())
                .bind(record.version.as_deref())
                .bind(now)
                .bind(seen);
        }
        query.execute(&mut *conn).await?;
        // Recorded from the rows just written, by key, one statement per
        // kind of change (nearly always one): binding each change's values
        // cost more than finding the rows again.
        let mut by_change: Vec<(&'static str, Vec<&str>)> = Vec::new();
        for (record, ..) in chunk {
            let id = record.external_id.as_str();
            let change = change_of.get(id).copied().unwrap_or("updated");
            match by_change.iter_mut().find(|(c, _)| *c == change) {
                Some((_, ids)) => ids.push(id),
                None => by_change.push((change, vec![id])),
            }
        }
        for (change, ids) in by_change {
            changes::record_users(conn, integration_id, change, &ids).await?;
        }
    }
    Ok(())
}

/// Inserts or updates a group, and replaces its stated members when the
/// record lists them (`members` by external id, `member_dns` by DN). A
/// group whose version changed (`changed`) is recorded in the change feed;
/// one read again only to restate its members is not.
pub(super) async fn upsert_group(
    conn: &mut AnyConnection,
    integration_id: i64,
    record: &Record,
    fields: &Map<String, Value>,
    seen: Option<i64>,
    (existed, changed): (bool, bool),
) -> Result<(), sqlx::Error> {
    let dn = text(fields, &["dn"]);
    let key = dn.as_deref().map(dn_key);
    if let (true, Some(key)) = (existed, &key) {
        follow_rename(
            conn,
            "directory_groups",
            integration_id,
            &record.external_id,
            key,
        )
        .await?;
    }
    let name = text(fields, &["name", "cn"]).unwrap_or_else(|| record.external_id.clone());
    let id: i64 = sqlx::query(
        "INSERT INTO directory_groups (integration_id, external_id, name, dn, dn_key, attributes_json, \
         version, synced_at, seen_job) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (integration_id, external_id) DO UPDATE SET name = excluded.name, \
         dn = excluded.dn, dn_key = excluded.dn_key, attributes_json = excluded.attributes_json, \
         version = excluded.version, synced_at = excluded.synced_at, \
         seen_job = COALESCE(excluded.seen_job, directory_groups.seen_job) RETURNING id",
    )
    .bind(integration_id)
    .bind(&record.external_id)
    .bind(name)
    .bind(dn)
    .bind(key)
    .bind(Value::Object(fields.clone()).to_string())
    .bind(&record.version)
    .bind(now_millis())
    .bind(seen)
    .fetch_one(&mut *conn)
    .await?
    .try_get("id")?;
    if changed {
        let change = changes::EntityChange {
            entity: "group",
            change: if existed { "updated" } else { "created" },
            entity_id: id,
            external_id: &record.external_id,
        };
        changes::record(conn, integration_id, &[change]).await?;
    }

    let by_id = fields.get("members").and_then(Value::as_array);
    let by_dn = fields.get("member_dns").and_then(Value::as_array);
    if by_id.is_none() && by_dn.is_none() {
        return Ok(());
    }
    forget_members(conn, integration_id, &record.external_id).await?;
    let mut stated: Vec<(i64, String)> = Vec::new();
    for id in by_id.into_iter().flatten().filter_map(Value::as_str) {
        stated.push((0, id.to_owned()));
    }
    for dn in by_dn.into_iter().flatten().filter_map(Value::as_str) {
        stated.push((1, dn_key(dn)));
    }
    stated.sort_unstable();
    stated.dedup();
    for chunk in stated.chunks(200) {
        let sql = format!(
            "INSERT INTO directory_group_members (integration_id, group_external_id, member_by_dn, member_key) \
             VALUES {}",
            Params::on(conn).rows(chunk.len(), 4)
        );
        let mut query = sqlx::query(&sql);
        for (by_dn, key) in chunk {
            query = query
                .bind(integration_id)
                .bind(&record.external_id)
                .bind(*by_dn)
                .bind(key.as_str());
        }
        query.execute(&mut *conn).await?;
    }
    pin_members_by_dn(conn, integration_id, Some(&record.external_id)).await
}

/// Rewrites the members stated by DN (of one group, or of every group of
/// the integration) that name a stored user or group into statements of
/// that entry's external id: from now on the statement means that entry,
/// whoever later holds the DN. Statements whose DN names nothing stored
/// are left for [`drop_unpinned_members`].
async fn pin_members_by_dn(
    conn: &mut AnyConnection,
    integration_id: i64,
    group: Option<&str>,
) -> Result<(), sqlx::Error> {
    let of_group = if group.is_some() {
        "AND m.group_external_id = $2"
    } else {
        ""
    };
    for table in ["directory_users", "directory_groups"] {
        let sql = format!(
            "INSERT INTO directory_group_members (integration_id, group_external_id, member_by_dn, member_key) \
             SELECT DISTINCT m.integration_id, m.group_external_id, 0, t.external_id \
             FROM directory_group_members m CROSS JOIN {table} t \
             WHERE m.integration_id = $1 {of_group} AND m.member_by_dn = 1 \
             AND t.integration_id = m.integration_id AND t.dn_key = m.member_key \
             AND NOT EXISTS (SELECT 1 FROM directory_group_members p WHERE p.integration_id = m.integration_id \
               AND p.group_external_id = m.group_external_id AND p.member_by_dn = 0 \
               AND p.member_key = t.external_id)"
        );
        let mut query = sqlx::query(&sql).bind(integration_id);
        if let Some(group) = group {
            query = query.bind(group);
        }
        query.execute(&mut *conn).await?;
        let sql = format!(
            "DELETE FROM directory_group_members WHERE integration_id = $1 {} AND member_by_dn = 1 \
             AND EXISTS (SELECT 1 FROM {table} t WHERE t.integration_id = directory_group_members.integration_id \
               AND t.dn_key = directory_group_members.member_key)",
            of_group.replace("m.", "")
        );
        let mut query = sqlx::query(&sql).bind(integration_id);
        if let Some(group) = group {
            query = query.bind(group);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Drops the members stated by DN that still name nothing once a sync has
/// stored everything it read: they are not members, and the statement
/// must not wait for whatever entry takes the DN next.
async fn drop_unpinned_members(
    conn: &mut AnyConnection,
    integration_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM directory_group_members WHERE integration_id = $1 AND member_by_dn = 1",
    )
    .bind(integration_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Forgets what a group stated about its members (it was deleted, or its
/// members are about to be replaced).
pub(super) async fn forget_members(
    conn: &mut AnyConnection,
    integration_id: i64,
    group_external_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM directory_group_members WHERE integration_id = $1 AND group_external_id = $2",
    )
    .bind(integration_id)
    .bind(group_external_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::dn_key;

    #[test]
    fn dn_keys_ignore_case_and_spaces_between_components() {
        assert_eq!(
            dn_key(" CN=Ada Lovelace, OU=People ,DC=Example,DC=com"),
            "cn=ada lovelace,ou=people,dc=example,dc=com"
        );
        assert_eq!(dn_key("uid=a+cn = B,dc=x"), "uid=a+cn=b,dc=x");
        // An escaped comma stays part of the value.
        assert_eq!(dn_key("CN=Doe\\, John,DC=x"), "cn=doe\\, john,dc=x");
        assert_ne!(dn_key("cn=a,dc=x"), dn_key("cn=b,dc=x"));
        assert_eq!(dn_key("CN=ÅSA Öberg,DC=X"), "cn=åsa öberg,dc=x");
    }
}
