//! The store side of the SCIM 2.0 service provider (`web::scim`, decision
//! 0037): which integration a SCIM client provisions into, and its users
//! and groups read and written as directory identities.
//!
//! A SCIM client is the owner of a `scim` token. On its first request it
//! gets an integration of its own (provider `scim`), and every identity it
//! provisions lives there, in `directory_users` and `directory_groups`
//! like a synced one: directory pages, the directory API, the change feed
//! and directory sign-in see it with no special case. A client reads and
//! writes only its own integration's identities; the rest of the
//! directory is `directory:read`'s.
//!
//! A write goes through the same path as a sync's page (`records`), in one
//! transaction that first checks what SCIM promises: the version the
//! client last read (`If-Match`), a `userName` nobody else in the
//! directory holds (sign-in looks users up by it), members that are this
//! client's own users and groups. Resolved memberships are rebuilt in the
//! same transaction, so a reader never sees a group without its members.

use std::collections::HashMap;

use serde_json::{Map, Value};
use sqlx::{AnyConnection, Row};

use super::api_tokens::TokenOwner;
use super::directory::rebuild_memberships_in;
use super::integrations::IntegrationFields;
use super::params::Params;
use super::records::{Deletions, Versions, apply_records};
use super::{Backend, Store, now_millis};
use crate::runtime::types::Record;

/// The provider id of the integrations SCIM clients provision into.
pub const PROVIDER: &str = "scim";

/// The kinds of resource SCIM writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScimKind {
    User,
    Group,
}

impl ScimKind {
    /// The record kind, as syncs write it.
    pub fn record_kind(self) -> &'static str {
        match self {
            ScimKind::User => "user",
            ScimKind::Group => "group",
        }
    }

    fn table(self) -> &'static str {
        match self {
            ScimKind::User => "directory_users",
            ScimKind::Group => "directory_groups",
        }
    }
}

/// The integration a SCIM client provisions into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScimClient {
    pub integration_id: i64,
    /// A disabled integration answers reads and refuses writes.
    pub enabled: bool,
}

/// A user or group as stored: its record fields (`scim` holds the resource
/// as the client wrote it).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredResource {
    pub external_id: String,
    pub fields: Map<String, Value>,
    /// A counter, `1` at creation.
    pub version: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A group a user belongs to, for a user's `groups`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupOf {
    pub group_external_id: String,
    pub name: String,
    pub direct: bool,
}

/// Why a SCIM write was refused.
#[derive(Debug, thiserror::Error)]
pub enum ScimWriteError {
    #[error("no such resource")]
    NotFound,
    /// `If-Match` named another version than the stored one.
    #[error("the resource changed since version {expected}: it is at version {current}")]
    VersionMismatch { expected: String, current: String },
    #[error("the userName `{0}` is taken in the directory")]
    UserNameTaken(String),
    #[error("these members are not users or groups of this SCIM client: {}", .0.join(", "))]
    UnknownMembers(Vec<String>),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// What to write.
pub enum ScimWrite<'a> {
    /// A new resource with this id.
    Create(&'a Map<String, Value>),
    /// The resource's new fields.
    Replace(&'a Map<String, Value>),
    Delete,
}

impl Store {
    /// The integration `owner`'s SCIM requests provision into, made on the
    /// first request (named `SCIM: <owner>`; a clash with an existing name
    /// gets the owner's id appended).
    pub async fn scim_client(
        &self,
        owner: &TokenOwner,
        actor: &str,
    ) -> Result<ScimClient, sqlx::Error> {
        let key = owner_key(owner);
        if let Some(client) = self.find_scim_client(&key).await? {
            return Ok(client);
        }
        let mut names = vec![format!("SCIM: {}", owner.name())];
        names.push(format!("{} ({key})", names[0]));
        for name in names {
            let fields = IntegrationFields::new(name, Map::new());
            match self
                .create_integration(PROVIDER, &fields, actor, |_| Default::default())
                .await
            {
                Ok(integration) => {
                    let claimed = sqlx::query(
                        "INSERT INTO scim_clients (integration_id, owner, created_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (owner) DO NOTHING",
                    )
                    .bind(integration.id)
                    .bind(&key)
                    .bind(now_millis())
                    .execute(self.pool())
                    .await?;
                    if claimed.rows_affected() == 0 {
                        // Another request of the same owner came first.
                        self.delete_integration(integration.id).await?;
                    }
                    return self
                        .find_scim_client(&key)
                        .await?
                        .ok_or(sqlx::Error::RowNotFound);
                }
                Err(super::integrations::IntegrationError::NameTaken(_)) => continue,
                Err(super::integrations::IntegrationError::Database(e)) => return Err(e),
            }
        }
        Err(sqlx::Error::Protocol(format!(
            "no free integration name for the SCIM client {key}"
        )))
    }

    async fn find_scim_client(&self, key: &str) -> Result<Option<ScimClient>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT c.integration_id, i.enabled FROM scim_clients c \
             JOIN integrations i ON i.id = c.integration_id WHERE c.owner = $1",
        )
        .bind(key)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| {
            Ok(ScimClient {
                integration_id: row.try_get("integration_id")?,
                enabled: row.try_get::<i64, _>("enabled")? != 0,
            })
        })
        .transpose()
    }

    /// One of the client's users or groups.
    pub async fn scim_resource(
        &self,
        integration_id: i64,
        kind: ScimKind,
        external_id: &str,
    ) -> Result<Option<StoredResource>, sqlx::Error> {
        let mut conn = self.pool().acquire().await?;
        find(&mut conn, integration_id, kind, external_id).await
    }

    /// The client's users or groups after row `after` in row order, at most
    /// `limit`; only those whose `userName` (users) or `displayName`
    /// (groups) is `named`, without case, when given.
    pub async fn scim_resources(
        &self,
        integration_id: i64,
        kind: ScimKind,
        named: Option<&str>,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, StoredResource)>, sqlx::Error> {
        let name_column = match kind {
            ScimKind::User => "username",
            ScimKind::Group => "name",
        };
        let named_sql = if named.is_some() {
            format!(" AND LOWER({name_column}) = LOWER($4)")
        } else {
            String::new()
        };
        let sql = format!(
            "SELECT id, external_id, attributes_json, version, synced_at FROM {} \
             WHERE integration_id = $1 AND id > $2{named_sql} ORDER BY id LIMIT $3",
            kind.table()
        );
        let mut query = sqlx::query(&sql)
            .bind(integration_id)
            .bind(after)
            .bind(limit);
        if let Some(named) = named {
            query = query.bind(named);
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|row| Ok((row.try_get("id")?, stored(row)?)))
            .collect()
    }

    /// How many users or groups the client has.
    pub async fn scim_count(
        &self,
        integration_id: i64,
        kind: ScimKind,
    ) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM {} WHERE integration_id = $1",
            kind.table()
        ))
        .bind(integration_id)
        .fetch_one(self.pool())
        .await
    }

    /// The groups of the client each of `members` belongs to, directly or
    /// through nested groups, by member.
    pub async fn scim_groups_of(
        &self,
        integration_id: i64,
        members: &[&str],
    ) -> Result<HashMap<String, Vec<GroupOf>>, sqlx::Error> {
        let mut found: HashMap<String, Vec<GroupOf>> = HashMap::new();
        let mut conn = self.pool().acquire().await?;
        for chunk in members.chunks(400) {
            let mut params = Params::on(&conn);
            let integration = params.next();
            let sql = format!(
                "SELECT m.member_external_id, m.group_external_id, m.direct, g.name FROM directory_memberships m \
                 JOIN directory_groups g ON g.integration_id = m.integration_id AND g.external_id = m.group_external_id \
                 WHERE m.integration_id = {integration} AND m.member_external_id IN ({}) \
                 ORDER BY m.member_external_id, g.name, m.group_external_id",
                params.list(chunk.len())
            );
            let mut query = sqlx::query(&sql).bind(integration_id);
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&mut *conn).await? {
                found
                    .entry(row.try_get("member_external_id")?)
                    .or_default()
                    .push(GroupOf {
                        group_external_id: row.try_get("group_external_id")?,
                        name: row.try_get("name")?,
                        direct: row.try_get::<i64, _>("direct")? != 0,
                    });
            }
        }
        Ok(found)
    }

    /// The direct members of a group, each with its kind and display name:
    /// `(external id, kind, display)`.
    pub async fn scim_members_of(
        &self,
        integration_id: i64,
        group_external_id: &str,
    ) -> Result<Vec<(String, ScimKind, String)>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT m.member_external_id AS id, u.username AS user_name, u.display_name AS user_display, \
             g.name AS group_name FROM directory_memberships m \
             LEFT JOIN directory_users u ON u.integration_id = m.integration_id AND u.external_id = m.member_external_id \
             LEFT JOIN directory_groups g ON g.integration_id = m.integration_id AND g.external_id = m.member_external_id \
             WHERE m.integration_id = $1 AND m.group_external_id = $2 AND m.direct = 1 \
             ORDER BY m.member_external_id",
        )
        .bind(integration_id)
        .bind(group_external_id)
        .fetch_all(self.pool())
        .await?;
        let mut members = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: String = row.try_get("id")?;
            if let Some(name) = row.try_get::<Option<String>, _>("group_name")? {
                members.push((id, ScimKind::Group, name));
            } else if let Some(name) = row.try_get::<Option<String>, _>("user_name")? {
                let display = row.try_get::<Option<String>, _>("user_display")?;
                members.push((id, ScimKind::User, display.unwrap_or(name)));
            }
        }
        Ok(members)
    }

    /// Creates, replaces or deletes one of the client's users or groups in
    /// one transaction, after checking `expected` (the version `If-Match`
    /// names, if any), the user name's uniqueness and the members; returns
    /// the resource as stored (`None` after a delete).
    pub async fn scim_write(
        &self,
        integration_id: i64,
        kind: ScimKind,
        external_id: &str,
        expected: Option<&str>,
        write: ScimWrite<'_>,
    ) -> Result<Option<StoredResource>, ScimWriteError> {
        let mut tx = self.begin_write().await?;
        let lock = if self.backend() == Backend::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let current: Option<String> = sqlx::query_scalar(&format!(
            "SELECT COALESCE(version, '0') FROM {} WHERE integration_id = $1 AND external_id = $2{lock}",
            kind.table()
        ))
        .bind(integration_id)
        .bind(external_id)
        .fetch_optional(&mut *tx)
        .await?;
        let version = match (&write, current) {
            (ScimWrite::Create(_), Some(_)) => {
                return Err(ScimWriteError::Database(sqlx::Error::Protocol(
                    "a new SCIM resource's id is already in use".into(),
                )));
            }
            (ScimWrite::Create(_), None) => 1,
            (_, None) => return Err(ScimWriteError::NotFound),
            (_, Some(current)) => {
                if let Some(expected) = expected.filter(|e| *e != current) {
                    return Err(ScimWriteError::VersionMismatch {
                        expected: expected.to_owned(),
                        current,
                    });
                }
                current.parse::<i64>().unwrap_or(0) + 1
            }
        };
        // The directory tables keep only the last write's time: the
        // creation time `meta.created` shows is kept in the fields.
        let created = match write {
            ScimWrite::Create(_) => Some(now_millis()),
            ScimWrite::Replace(_) => find(&mut tx, integration_id, kind, external_id)
                .await?
                .map(|found| found.created_at),
            ScimWrite::Delete => None,
        };
        let (fields, deleted) = match write {
            ScimWrite::Create(fields) | ScimWrite::Replace(fields) => {
                let mut fields = fields.clone();
                if let Some(created) = created {
                    fields.insert("scim_created".into(), Value::from(created));
                }
                (Some(fields), false)
            }
            ScimWrite::Delete => (None, true),
        };
        if let Some(fields) = &fields {
            match kind {
                ScimKind::User => {
                    let name = fields.get("username").and_then(Value::as_str).unwrap_or("");
                    check_user_name(&mut tx, self.backend(), integration_id, external_id, name)
                        .await?;
                }
                ScimKind::Group => {
                    check_members(&mut tx, integration_id, fields).await?;
                }
            }
        }
        let record = Record {
            kind: kind.record_kind().to_owned(),
            external_id: external_id.to_owned(),
            fields: Value::Object(fields.unwrap_or_default()).to_string(),
            deleted,
            version: Some(version.to_string()),
        };
        apply_records(
            &mut tx,
            integration_id,
            None,
            std::slice::from_ref(&record),
            Versions::AsRead,
            Deletions::Apply,
        )
        .await?;
        if kind == ScimKind::Group || deleted {
            rebuild_memberships_in(&mut tx, integration_id).await?;
        }
        let stored = find(&mut tx, integration_id, kind, external_id).await?;
        tx.commit().await?;
        Ok(stored)
    }
}

/// `user:<id>` or `service_account:<id>`.
fn owner_key(owner: &TokenOwner) -> String {
    match owner {
        TokenOwner::User { id, .. } => format!("user:{id}"),
        TokenOwner::ServiceAccount { id, .. } => format!("service_account:{id}"),
    }
}

async fn find(
    conn: &mut AnyConnection,
    integration_id: i64,
    kind: ScimKind,
    external_id: &str,
) -> Result<Option<StoredResource>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT external_id, attributes_json, version, synced_at FROM {} \
         WHERE integration_id = $1 AND external_id = $2",
        kind.table()
    ))
    .bind(integration_id)
    .bind(external_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(stored).transpose()
}

fn stored(row: &sqlx::any::AnyRow) -> Result<StoredResource, sqlx::Error> {
    let text: String = row.try_get("attributes_json")?;
    let fields = match serde_json::from_str(&text) {
        Ok(Value::Object(fields)) => fields,
        _ => Map::new(),
    };
    let updated_at: i64 = row.try_get("synced_at")?;
    Ok(StoredResource {
        external_id: row.try_get("external_id")?,
        created_at: fields
            .get("scim_created")
            .and_then(Value::as_i64)
            .unwrap_or(updated_at),
        fields,
        version: row
            .try_get::<Option<String>, _>("version")?
            .unwrap_or_else(|| "0".into()),
        updated_at,
    })
}

/// Refuses a user name another user in the directory holds, in any case:
/// directory sign-in finds users by it. On PostgreSQL the name is locked
/// for the transaction, so two clients creating it at once cannot both see
/// it free (SQLite's writers are serialised already).
async fn check_user_name(
    conn: &mut AnyConnection,
    backend: Backend,
    integration_id: i64,
    external_id: &str,
    name: &str,
) -> Result<(), ScimWriteError> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext(LOWER($1)))::text")
            .bind(name)
            .fetch_one(&mut *conn)
            .await?;
    }
    let taken: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM directory_users WHERE LOWER(username) = LOWER($1) \
         AND NOT (integration_id = $2 AND external_id = $3) LIMIT 1",
    )
    .bind(name)
    .bind(integration_id)
    .bind(external_id)
    .fetch_optional(&mut *conn)
    .await?;
    match taken {
        Some(_) => Err(ScimWriteError::UserNameTaken(name.to_owned())),
        None => Ok(()),
    }
}

/// Refuses members that are not users or groups of the integration.
async fn check_members(
    conn: &mut AnyConnection,
    integration_id: i64,
    fields: &Map<String, Value>,
) -> Result<(), ScimWriteError> {
    let wanted: Vec<&str> = fields
        .get("members")
        .and_then(Value::as_array)
        .map(|members| members.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut known: std::collections::HashSet<String> = std::collections::HashSet::new();
    for chunk in wanted.chunks(400) {
        for table in ["directory_users", "directory_groups"] {
            let mut params = Params::on(conn);
            let integration = params.next();
            let sql = format!(
                "SELECT external_id FROM {table} WHERE integration_id = {integration} \
                 AND external_id IN ({})",
                params.list(chunk.len())
            );
            let mut query = sqlx::query_scalar::<_, String>(&sql).bind(integration_id);
            for id in chunk {
                query = query.bind(*id);
            }
            known.extend(query.fetch_all(&mut *conn).await?);
        }
    }
    let unknown: Vec<String> = wanted
        .iter()
        .filter(|id| !known.contains(**id))
        .map(|id| (*id).to_owned())
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(ScimWriteError::UnknownMembers(unknown))
    }
}
