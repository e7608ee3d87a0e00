//! The directory as the JSON API pages it (`/api/v1/directory`): in a
//! fixed order after a cursor (keyset pagination), not by offset.
//!
//! A consumer reads page after page while syncs write. With offsets, a row
//! deleted before the consumer's position shifts every later row one place
//! forward, and the next page skips one; a row inserted there repeats one.
//! Here each page starts after the last key of the one before (a user's or
//! group's row id, a member's external id), which no write moves: a page
//! never repeats a row, and misses none that existed throughout. What a
//! sync adds meanwhile may or may not appear; the change feed is the way
//! to follow changes.

use serde::Serialize;
use sqlx::Row;

use super::listing::{
    DirectoryGroup, DirectorySearch, DirectoryUser, GROUP_COLUMNS, Param, USER_COLUMNS,
    bind_params, directory_group_from, directory_user_from, search_clause,
};
use crate::store::Store;

/// Which users or groups a page holds.
#[derive(Clone, Debug, Default)]
pub struct DirectoryFilter {
    pub search: DirectorySearch,
    /// Users only: enabled (`true`) or disabled (`false`) ones.
    pub enabled: Option<bool>,
    /// Those synced (created or changed) at or after this time, in
    /// milliseconds since the epoch.
    pub updated_since: Option<i64>,
}

/// A user or group with the id the API names it by.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Keyed<T> {
    pub id: i64,
    #[serde(flatten)]
    pub item: T,
}

/// A member of a group, with its id (`None` for a member the directory
/// names but the host did not sync).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyedMember {
    pub id: Option<i64>,
    /// `user` or `group`.
    pub kind: &'static str,
    pub external_id: String,
    pub name: String,
    pub display_name: Option<String>,
    pub enabled: bool,
    /// False when the membership comes through nested groups.
    pub direct: bool,
}

/// A group a user or group belongs to, with its id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyedGroup {
    pub id: i64,
    pub external_id: String,
    pub name: String,
    pub direct: bool,
}

/// The WHERE clause of a page over `alias`: the search, the filter's
/// other conditions, and `alias.id > after`, numbered from `$1`.
fn page_clause(
    filter: &DirectoryFilter,
    alias: &str,
    columns: &[&str],
    after: i64,
) -> (String, Vec<Param>) {
    let (clause, mut params) = search_clause(&filter.search, alias, columns);
    let mut conditions: Vec<String> = clause
        .strip_prefix(" WHERE ")
        .map(|c| vec![c.to_owned()])
        .unwrap_or_default();
    params.push(Param::Int(after));
    conditions.push(format!("{alias}.id > ${}", params.len()));
    if let Some(enabled) = filter.enabled {
        params.push(Param::Int(i64::from(enabled)));
        conditions.push(format!("{alias}.enabled = ${}", params.len()));
    }
    if let Some(since) = filter.updated_since {
        params.push(Param::Int(since));
        conditions.push(format!("{alias}.synced_at >= ${}", params.len()));
    }
    (format!(" WHERE {}", conditions.join(" AND ")), params)
}

impl Store {
    /// Up to `limit` users after the row id `after` (0 for the first page),
    /// in id order.
    pub async fn directory_users_after(
        &self,
        filter: &DirectoryFilter,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Keyed<DirectoryUser>>, sqlx::Error> {
        let (clause, params) =
            page_clause(filter, "u", &["username", "display_name", "email"], after);
        let from = format!(
            "{USER_COLUMNS} FROM directory_users u JOIN integrations i ON i.id = u.integration_id{clause}"
        );
        self.page_after("u", &from, &params, limit, directory_user_from)
            .await
    }

    /// Up to `limit` groups after the row id `after`, in id order (the
    /// filter's `enabled` does not apply: groups are not disabled).
    pub async fn directory_groups_after(
        &self,
        filter: &DirectoryFilter,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Keyed<DirectoryGroup>>, sqlx::Error> {
        let filter = DirectoryFilter {
            enabled: None,
            ..filter.clone()
        };
        let (clause, params) = page_clause(&filter, "g", &["name"], after);
        let from = format!(
            "{GROUP_COLUMNS} FROM directory_groups g JOIN integrations i ON i.id = g.integration_id{clause}"
        );
        self.page_after("g", &from, &params, limit, directory_group_from)
            .await
    }

    /// `SELECT alias.id, <columns_from> ORDER BY alias.id LIMIT limit`,
    /// `params` numbered from `$1`, each row with its id.
    async fn page_after<T>(
        &self,
        alias: &str,
        columns_from: &str,
        params: &[Param],
        limit: i64,
        row_to: fn(&sqlx::any::AnyRow) -> Result<T, sqlx::Error>,
    ) -> Result<Vec<Keyed<T>>, sqlx::Error> {
        let sql = format!(
            "SELECT {alias}.id, {columns_from} ORDER BY {alias}.id LIMIT ${}",
            params.len() + 1
        );
        let rows = bind_params(sqlx::query(&sql), params)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Keyed {
                    id: row.try_get("id")?,
                    item: row_to(row)?,
                })
            })
            .collect()
    }

    /// The integration and external id of the user with row id `id`.
    pub async fn directory_user_key(&self, id: i64) -> Result<Option<(i64, String)>, sqlx::Error> {
        self.directory_key("directory_users", id).await
    }

    /// The integration and external id of the group with row id `id`.
    pub async fn directory_group_key(&self, id: i64) -> Result<Option<(i64, String)>, sqlx::Error> {
        self.directory_key("directory_groups", id).await
    }

    async fn directory_key(
        &self,
        table: &str,
        id: i64,
    ) -> Result<Option<(i64, String)>, sqlx::Error> {
        let row = sqlx::query(&format!(
            "SELECT integration_id, external_id FROM {table} WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| Ok((row.try_get("integration_id")?, row.try_get("external_id")?)))
            .transpose()
    }

    /// Up to `limit` members of a group after the member external id
    /// `after` (`None` for the first page), in external-id order: its
    /// direct members, or with `effective` also those of its nested groups.
    pub async fn group_members_after(
        &self,
        integration_id: i64,
        group_external_id: &str,
        effective: bool,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<KeyedMember>, sqlx::Error> {
        let direct_only = if effective { "" } else { " AND m.direct = 1" };
        let rows = sqlx::query(&format!(
            "SELECT m.member_external_id, m.direct, g.id AS group_id, g.name AS group_name, \
             u.id AS user_id, u.username, u.display_name, u.enabled \
             FROM directory_memberships m \
             LEFT JOIN directory_groups g \
               ON g.integration_id = m.integration_id AND g.external_id = m.member_external_id \
             LEFT JOIN directory_users u \
               ON u.integration_id = m.integration_id AND u.external_id = m.member_external_id \
             WHERE m.integration_id = $1 AND m.group_external_id = $2 \
               AND m.member_external_id > $3{direct_only} \
             ORDER BY m.member_external_id LIMIT $4"
        ))
        .bind(integration_id)
        .bind(group_external_id)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let external_id: String = row.try_get("member_external_id")?;
                let direct = row.try_get::<i64, _>("direct")? != 0;
                let group_name: Option<String> = row.try_get("group_name")?;
                Ok(match group_name {
                    Some(name) => KeyedMember {
                        id: row.try_get("group_id")?,
                        kind: "group",
                        external_id,
                        name,
                        display_name: None,
                        enabled: true,
                        direct,
                    },
                    None => KeyedMember {
                        id: row.try_get("user_id")?,
                        kind: "user",
                        name: row
                            .try_get::<Option<String>, _>("username")?
                            .unwrap_or_else(|| external_id.clone()),
                        external_id,
                        display_name: row.try_get("display_name")?,
                        enabled: row.try_get::<Option<i64>, _>("enabled")?.unwrap_or(1) != 0,
                        direct,
                    },
                })
            })
            .collect()
    }

    /// The synced groups a user or group belongs to, with their ids: its
    /// direct groups, or with `effective` also those they are nested in.
    pub async fn groups_of_member_keyed(
        &self,
        integration_id: i64,
        member_external_id: &str,
        effective: bool,
    ) -> Result<Vec<KeyedGroup>, sqlx::Error> {
        let direct_only = if effective { "" } else { " AND m.direct = 1" };
        let rows = sqlx::query(&format!(
            "SELECT g.id, g.external_id, g.name, m.direct FROM directory_memberships m \
             JOIN directory_groups g \
               ON g.integration_id = m.integration_id AND g.external_id = m.group_external_id \
             WHERE m.integration_id = $1 AND m.member_external_id = $2{direct_only} \
             ORDER BY m.direct DESC, g.id"
        ))
        .bind(integration_id)
        .bind(member_external_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(KeyedGroup {
                    id: row.try_get("id")?,
                    external_id: row.try_get("external_id")?,
                    name: row.try_get("name")?,
                    direct: row.try_get::<i64, _>("direct")? != 0,
                })
            })
            .collect()
    }
}
