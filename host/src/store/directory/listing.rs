//! The queries behind the directory pages: synced users and groups listed,
//! searched and paged, one of each in detail, and memberships with names.

use serde::Serialize;
use serde_json::{Map, Value};
use sqlx::Row;

use super::text;
use crate::store::{AnyQuery, Store};

/// Which synced users or groups the directory pages list. Both filters
/// are optional.
#[derive(Clone, Debug, Default)]
pub struct DirectorySearch {
    pub integration_id: Option<i64>,
    /// Words that must each appear (case-insensitively) in a user's
    /// username, display name or email, or in a group's name.
    pub text: Option<String>,
}

/// A synced user, as the directory pages list it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DirectoryUser {
    pub integration_id: i64,
    pub integration_name: String,
    pub external_id: String,
    pub username: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub enabled: bool,
    pub dn: Option<String>,
    pub version: Option<String>,
    pub synced_at: i64,
}

/// A synced user with the profile fields its connector gave beyond the
/// columns (read from its attributes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DirectoryUserDetail {
    pub user: DirectoryUser,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub principal_name: Option<String>,
    /// The DNs of the synced groups that name the user as a member (its
    /// direct groups), from the memberships: never a stored copy, which a
    /// change to a group alone would leave stale.
    pub member_of: Vec<String>,
}

/// A synced group, with how many members it has.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DirectoryGroup {
    pub integration_id: i64,
    pub integration_name: String,
    pub external_id: String,
    pub name: String,
    pub dn: Option<String>,
    pub version: Option<String>,
    pub synced_at: i64,
    /// Users and groups it names itself.
    pub direct_members: i64,
    /// Those, and the members of its nested groups.
    pub all_members: i64,
}

/// A synced group with its description (from its attributes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DirectoryGroupDetail {
    pub group: DirectoryGroup,
    pub description: Option<String>,
}

/// A group a user or group belongs to, with its name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MemberGroup {
    pub external_id: String,
    pub name: String,
    /// False when the membership comes through nested groups.
    pub direct: bool,
}

/// A member of a group, user or group, with its name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupMember {
    /// `user` or `group`.
    pub kind: String,
    pub external_id: String,
    /// A user's username or a group's name.
    pub name: String,
    pub display_name: Option<String>,
    /// Always true for groups.
    pub enabled: bool,
    /// False when the membership comes through nested groups.
    pub direct: bool,
}

/// LIKE patterns for one search word (`%`, `_` and `\` escaped for
/// `ESCAPE '\'`): its lowercase form, and its ASCII-lowercase form when that
/// differs, because SQLite's `LOWER` folds ASCII letters only (PostgreSQL's
/// folds all, and matches the first).
fn like_patterns(word: &str) -> Vec<String> {
    let escape = |text: String| {
        let mut out = String::from("%");
        for c in text.chars() {
            if matches!(c, '%' | '_' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('%');
        out
    };
    let mut patterns = vec![escape(word.to_lowercase())];
    let ascii = escape(word.to_ascii_lowercase());
    if ascii != patterns[0] {
        patterns.push(ascii);
    }
    patterns
}

/// A parameter of a directory query.
pub(super) enum Param {
    Int(i64),
    Text(String),
}

/// The WHERE clause of a directory list over `alias` (its `integration_id`
/// and the text `columns`, which may be NULL), with its parameters numbered
/// from `$1`.
pub(super) fn search_clause(
    search: &DirectorySearch,
    alias: &str,
    columns: &[&str],
) -> (String, Vec<Param>) {
    let mut conditions = Vec::new();
    let mut params = Vec::new();
    if let Some(id) = search.integration_id {
        params.push(Param::Int(id));
        conditions.push(format!("{alias}.integration_id = ${}", params.len()));
    }
    for word in search
        .text
        .as_deref()
        .unwrap_or_default()
        .split_whitespace()
        .take(8)
    {
        let mut any = Vec::new();
        for pattern in like_patterns(word) {
            params.push(Param::Text(pattern));
            let n = params.len();
            any.extend(columns.iter().map(|column| {
                format!("LOWER(COALESCE({alias}.{column}, '')) LIKE ${n} ESCAPE '\\'")
            }));
        }
        conditions.push(format!("({})", any.join(" OR ")));
    }
    let clause = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    (clause, params)
}

pub(super) fn bind_params<'q>(mut query: AnyQuery<'q>, params: &'q [Param]) -> AnyQuery<'q> {
    for param in params {
        query = match param {
            Param::Int(v) => query.bind(*v),
            Param::Text(v) => query.bind(v.as_str()),
        };
    }
    query
}

pub(super) const USER_COLUMNS: &str = "u.integration_id, i.name AS integration_name, u.external_id, \
    u.username, u.email, u.display_name, u.enabled, u.dn, u.version, u.synced_at";

pub(super) const GROUP_COLUMNS: &str = "g.integration_id, i.name AS integration_name, g.external_id, g.name, \
    g.dn, g.version, g.synced_at, \
    (SELECT CAST(COUNT(*) AS BIGINT) FROM directory_memberships m \
      WHERE m.integration_id = g.integration_id AND m.group_external_id = g.external_id \
      AND m.direct = 1) AS direct_members, \
    (SELECT CAST(COUNT(*) AS BIGINT) FROM directory_memberships m \
      WHERE m.integration_id = g.integration_id AND m.group_external_id = g.external_id) AS all_members";

pub(super) fn directory_user_from(row: &sqlx::any::AnyRow) -> Result<DirectoryUser, sqlx::Error> {
    Ok(DirectoryUser {
        integration_id: row.try_get("integration_id")?,
        integration_name: row.try_get("integration_name")?,
        external_id: row.try_get("external_id")?,
        username: row.try_get("username")?,
        email: row.try_get("email")?,
        display_name: row.try_get("display_name")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        dn: row.try_get("dn")?,
        version: row.try_get("version")?,
        synced_at: row.try_get("synced_at")?,
    })
}

pub(super) fn directory_group_from(row: &sqlx::any::AnyRow) -> Result<DirectoryGroup, sqlx::Error> {
    Ok(DirectoryGroup {
        integration_id: row.try_get("integration_id")?,
        integration_name: row.try_get("integration_name")?,
        external_id: row.try_get("external_id")?,
        name: row.try_get("name")?,
        dn: row.try_get("dn")?,
        version: row.try_get("version")?,
        synced_at: row.try_get("synced_at")?,
        direct_members: row.try_get("direct_members")?,
        all_members: row.try_get("all_members")?,
    })
}

/// A stored `attributes_json`, as an object (empty when it is not one).
fn attributes(row: &sqlx::any::AnyRow) -> Result<Map<String, Value>, sqlx::Error> {
    let text: String = row.try_get("attributes_json")?;
    Ok(match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    })
}

impl Store {
    /// A page of synced users (by username), and how many match in all.
    pub async fn directory_users(
        &self,
        search: &DirectorySearch,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<DirectoryUser>, i64), sqlx::Error> {
        let (clause, params) = search_clause(search, "u", &["username", "display_name", "email"]);
        let from = format!(
            "FROM directory_users u JOIN integrations i ON i.id = u.integration_id{clause}"
        );
        let select =
            format!("SELECT {USER_COLUMNS} {from} ORDER BY LOWER(u.username), u.username, u.id");
        self.listing_page(&select, &from, &params, offset, limit, directory_user_from)
            .await
    }

    /// A page of synced groups (by name) with their member counts, and how
    /// many match in all.
    pub async fn directory_groups(
        &self,
        search: &DirectorySearch,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<DirectoryGroup>, i64), sqlx::Error> {
        let (clause, params) = search_clause(search, "g", &["name"]);
        let from = format!(
            "FROM directory_groups g JOIN integrations i ON i.id = g.integration_id{clause}"
        );
        let select = format!("SELECT {GROUP_COLUMNS} {from} ORDER BY LOWER(g.name), g.name, g.id");
        self.listing_page(&select, &from, &params, offset, limit, directory_group_from)
            .await
    }

    /// A page of a directory list: the rows of `select` (which ends in its
    /// ORDER BY), `limit` of them after `offset`, and how many rows `from`
    /// (the FROM and WHERE of `select`, numbering `params` from `$1`) holds.
    async fn listing_page<T>(
        &self,
        select: &str,
        from: &str,
        params: &[Param],
        offset: i64,
        limit: i64,
        row_to: fn(&sqlx::any::AnyRow) -> Result<T, sqlx::Error>,
    ) -> Result<(Vec<T>, i64), sqlx::Error> {
        let n = params.len();
        let sql = format!("{select} LIMIT ${} OFFSET ${}", n + 1, n + 2);
        let rows = bind_params(sqlx::query(&sql), params)
            .bind(limit)
            .bind(offset)
            .fetch_all(self.pool())
            .await?;
        let items = rows.iter().map(row_to).collect::<Result<_, _>>()?;
        let sql = format!("SELECT CAST(COUNT(*) AS BIGINT) AS n {from}");
        let total: i64 = bind_params(sqlx::query(&sql), params)
            .fetch_one(self.pool())
            .await?
            .try_get("n")?;
        Ok((items, total))
    }

    /// One synced user, with its profile fields.
    pub async fn directory_user(
        &self,
        integration_id: i64,
        external_id: &str,
    ) -> Result<Option<DirectoryUserDetail>, sqlx::Error> {
        let found = self
            .synced_row(
                USER_COLUMNS,
                "directory_users u",
                "u",
                integration_id,
                external_id,
            )
            .await?;
        let Some((row, fields)) = found else {
            return Ok(None);
        };
        let member_of = sqlx::query_scalar(
            "SELECT g.dn FROM directory_memberships m JOIN directory_groups g \
               ON g.integration_id = m.integration_id AND g.external_id = m.group_external_id \
             WHERE m.integration_id = $1 AND m.member_external_id = $2 AND m.direct = 1 \
               AND g.dn IS NOT NULL \
             ORDER BY g.dn_key",
        )
        .bind(integration_id)
        .bind(external_id)
        .fetch_all(self.pool())
        .await?;
        Ok(Some(DirectoryUserDetail {
            member_of,
            user: directory_user_from(&row)?,
            first_name: text(&fields, &["first_name", "givenName"]),
            last_name: text(&fields, &["last_name", "sn"]),
            principal_name: text(&fields, &["user_principal_name", "userPrincipalName"]),
        }))
    }

    /// One synced group, with its member counts and description.
    pub async fn directory_group(
        &self,
        integration_id: i64,
        external_id: &str,
    ) -> Result<Option<DirectoryGroupDetail>, sqlx::Error> {
        let found = self
            .synced_row(
                GROUP_COLUMNS,
                "directory_groups g",
                "g",
                integration_id,
                external_id,
            )
            .await?;
        let Some((row, fields)) = found else {
            return Ok(None);
        };
        Ok(Some(DirectoryGroupDetail {
            group: directory_group_from(&row)?,
            description: text(&fields, &["description"]),
        }))
    }

    /// One synced user or group of `table` (named `alias`), as `columns`,
    /// with the fields of its `attributes_json`, if it is there.
    async fn synced_row(
        &self,
        columns: &str,
        table: &str,
        alias: &str,
        integration_id: i64,
        external_id: &str,
    ) -> Result<Option<(sqlx::any::AnyRow, Map<String, Value>)>, sqlx::Error> {
        let row = sqlx::query(&format!(
            "SELECT {columns}, {alias}.attributes_json FROM {table} \
             JOIN integrations i ON i.id = {alias}.integration_id \
             WHERE {alias}.integration_id = $1 AND {alias}.external_id = $2"
        ))
        .bind(integration_id)
        .bind(external_id)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let fields = attributes(&row)?;
        Ok(Some((row, fields)))
    }

    /// The groups a synced user or group belongs to, with their names:
    /// direct memberships first, then by name.
    pub async fn groups_of_member(
        &self,
        integration_id: i64,
        member_external_id: &str,
    ) -> Result<Vec<MemberGroup>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT m.group_external_id, m.direct, COALESCE(g.name, m.group_external_id) AS name \
             FROM directory_memberships m LEFT JOIN directory_groups g \
               ON g.integration_id = m.integration_id AND g.external_id = m.group_external_id \
             WHERE m.integration_id = $1 AND m.member_external_id = $2 \
             ORDER BY m.direct DESC, LOWER(COALESCE(g.name, m.group_external_id)), m.group_external_id",
        )
        .bind(integration_id)
        .bind(member_external_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(MemberGroup {
                    external_id: row.try_get("group_external_id")?,
                    name: row.try_get("name")?,
                    direct: row.try_get::<i64, _>("direct")? != 0,
                })
            })
            .collect()
    }

    /// A page of a synced group's members, users and groups, with their
    /// names: direct members first, groups before users, then by name.
    /// [`DirectoryGroup::all_members`] says how many there are.
    pub async fn members_of_group_page(
        &self,
        integration_id: i64,
        group_external_id: &str,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<GroupMember>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT m.member_external_id, m.direct, g.name AS group_name, u.username, \
             u.display_name, u.enabled \
             FROM directory_memberships m \
             LEFT JOIN directory_groups g \
               ON g.integration_id = m.integration_id AND g.external_id = m.member_external_id \
             LEFT JOIN directory_users u \
               ON u.integration_id = m.integration_id AND u.external_id = m.member_external_id \
             WHERE m.integration_id = $1 AND m.group_external_id = $2 \
             ORDER BY m.direct DESC, CASE WHEN g.name IS NULL THEN 1 ELSE 0 END, \
               LOWER(COALESCE(g.name, u.username, m.member_external_id)), m.member_external_id \
             LIMIT $3 OFFSET $4",
        )
        .bind(integration_id)
        .bind(group_external_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let external_id: String = row.try_get("member_external_id")?;
                let group_name: Option<String> = row.try_get("group_name")?;
                let direct = row.try_get::<i64, _>("direct")? != 0;
                Ok(match group_name {
                    Some(name) => GroupMember {
                        kind: "group".into(),
                        external_id,
                        name,
                        display_name: None,
                        enabled: true,
                        direct,
                    },
                    None => GroupMember {
                        kind: "user".into(),
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
}

#[cfg(test)]
mod tests {
    use super::{DirectorySearch, like_patterns, search_clause};

    #[test]
    fn search_patterns_escape_wildcards_and_cover_sqlite_lower() {
        assert_eq!(like_patterns("50%_Off\\"), vec!["%50\\%\\_off\\\\%"]);
        // SQLite's LOWER leaves Ö alone: the ASCII-folded pattern matches it.
        assert_eq!(like_patterns("Östen"), vec!["%östen%", "%Östen%"]);
    }

    #[test]
    fn search_words_number_their_parameters_in_order() {
        let search = DirectorySearch {
            integration_id: Some(3),
            text: Some("ada  Lovelace".into()),
        };
        let (clause, params) = search_clause(&search, "u", &["username", "email"]);
        assert_eq!(params.len(), 3);
        assert!(
            clause.starts_with(" WHERE u.integration_id = $1 AND ("),
            "{clause}"
        );
        assert!(
            clause.contains("LOWER(COALESCE(u.username, '')) LIKE $2")
                && clause.contains("LOWER(COALESCE(u.email, '')) LIKE $3"),
            "{clause}"
        );
        assert_eq!(
            search_clause(&DirectorySearch::default(), "g", &["name"]).0,
            ""
        );
    }
}
