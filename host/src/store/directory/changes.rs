//! The write side of the directory change feed (decision 0036): every
//! change to a synced user, group or membership is a row of
//! `directory_changes`, written in the transaction that makes the change,
//! so the feed holds exactly what was committed, and nothing that was
//! rolled back.
//!
//! Rows are small (what changed, and its ids): the feed adds the current
//! state of each user or group when it is read (`feed`), as Microsoft
//! Graph's delta queries answer with an object's state, not its history.
//! A full sync of 100,000 users writes 100,000 of them, in statements of a
//! few hundred, beside the users themselves.
//!
//! The order a reader follows is `(tx_order, id)`. On SQLite one writer
//! commits at a time, so ids are in commit order and `tx_order` stays 0. On
//! PostgreSQL ids are handed out before commit, in any order across
//! transactions; `tx_order` is the writing transaction's id (its column
//! default), and the reader only returns rows of transactions older than
//! every one still running (see `feed`).

use sqlx::AnyConnection;

use super::super::now_millis;
use super::super::params::Params;

/// A change to a user or group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(in crate::store) struct EntityChange<'a> {
    /// `user` or `group`.
    pub entity: &'static str,
    /// `created`, `updated`, `enabled`, `disabled` or `deleted`.
    pub change: &'static str,
    pub entity_id: i64,
    pub external_id: &'a str,
}

/// Changes per statement (6 values each).
const CHANGES_PER_STATEMENT: usize = 300;

/// Records changes to users or groups of an integration.
pub(in crate::store) async fn record(
    conn: &mut AnyConnection,
    integration_id: i64,
    changes: &[EntityChange<'_>],
) -> Result<(), sqlx::Error> {
    let now = now_millis();
    for chunk in changes.chunks(CHANGES_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO directory_changes (integration_id, entity, change, entity_id, external_id, changed_at) \
             VALUES {}",
            Params::on(conn).rows(chunk.len(), 6)
        );
        let mut query = sqlx::query(&sql);
        for change in chunk {
            query = query
                .bind(integration_id)
                .bind(change.entity)
                .bind(change.change)
                .bind(change.entity_id)
                .bind(change.external_id)
                .bind(now);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Records `change` for the users of an integration with these external
/// ids, just written.
pub(in crate::store) async fn record_users(
    conn: &mut AnyConnection,
    integration_id: i64,
    change: &str,
    external_ids: &[&str],
) -> Result<(), sqlx::Error> {
    let now = now_millis();
    for chunk in external_ids.chunks(CHANGES_PER_STATEMENT) {
        let mut params = Params::on(conn);
        let integration = params.next();
        let sql = format!(
            "INSERT INTO directory_changes (integration_id, entity, change, entity_id, external_id, changed_at) \
             SELECT integration_id, 'user', '{change}', id, external_id, {now} FROM directory_users \
             WHERE integration_id = {integration} AND external_id IN ({})",
            params.list(chunk.len())
        );
        let mut query = sqlx::query(&sql).bind(integration_id);
        for id in chunk {
            query = query.bind(*id);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The entity a directory table holds, for the tables that have one.
pub(in crate::store) fn entity_of(table: &str) -> Option<&'static str> {
    match table {
        "directory_users" => Some("user"),
        "directory_groups" => Some("group"),
        _ => None,
    }
}

/// The statement that records `change` for the rows of `table`
/// (`directory_users` or `directory_groups`) that `condition` picks, an SQL
/// condition over the table's columns: run it with the binds of the
/// statement that is about to change those rows (a deletion), before it.
/// `None` for a table the feed does not follow.
pub(in crate::store) fn rows_sql(table: &str, change: &str, condition: &str) -> Option<String> {
    let entity = entity_of(table)?;
    Some(format!(
        "INSERT INTO directory_changes (integration_id, entity, change, entity_id, external_id, changed_at) \
         SELECT integration_id, '{entity}', '{change}', id, external_id, {now} FROM {table} WHERE {condition}",
        now = now_millis()
    ))
}

/// Records the deletion of one user or group (by key) about to be deleted.
pub(in crate::store) async fn record_deletion(
    conn: &mut AnyConnection,
    table: &str,
    integration_id: i64,
    external_id: &str,
) -> Result<(), sqlx::Error> {
    if let Some(sql) = rows_sql(table, "deleted", "integration_id = $1 AND external_id = $2") {
        sqlx::query(&sql)
            .bind(integration_id)
            .bind(external_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The member's row id and kind, as a membership change records them,
/// found in the users and then the groups of the integration.
const MEMBER_COLUMNS: &str = "COALESCE((SELECT u.id FROM directory_users u \
       WHERE u.integration_id = m.integration_id AND u.external_id = m.member_external_id), \
     (SELECT g.id FROM directory_groups g \
       WHERE g.integration_id = m.integration_id AND g.external_id = m.member_external_id)), \
     m.member_external_id, \
     CASE WHEN EXISTS (SELECT 1 FROM directory_groups g WHERE g.integration_id = m.integration_id \
       AND g.external_id = m.member_external_id) THEN 'group' ELSE 'user' END";

/// The group's row id, as a membership change records it.
const GROUP_ID: &str = "(SELECT g.id FROM directory_groups g \
     WHERE g.integration_id = m.integration_id AND g.external_id = m.group_external_id)";

/// Records the memberships of `from` (aliased `m`) that `condition` picks
/// as `change` (`added`, `updated` or `removed`), binding `$1` to the
/// integration.
pub(in crate::store) async fn record_memberships(
    conn: &mut AnyConnection,
    integration_id: i64,
    change: &str,
    from: &str,
    condition: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO directory_changes (integration_id, entity, change, entity_id, external_id, \
         member_id, member_external_id, member_kind, direct, changed_at) \
         SELECT m.integration_id, 'membership', '{change}', {GROUP_ID}, m.group_external_id, \
         {MEMBER_COLUMNS}, m.direct, {now} FROM {from} m WHERE m.integration_id = $1 AND {condition} \
         ORDER BY m.group_external_id, m.member_external_id",
        now = now_millis()
    ))
    .bind(integration_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records the end of everything an integration holds (it is being
/// deleted): its memberships removed, its users and groups deleted.
pub(in crate::store) async fn record_integration_gone(
    conn: &mut AnyConnection,
    integration_id: i64,
) -> Result<(), sqlx::Error> {
    record_memberships(
        conn,
        integration_id,
        "removed",
        "directory_memberships",
        "1 = 1",
    )
    .await?;
    for table in ["directory_users", "directory_groups"] {
        let sql = rows_sql(table, "deleted", "integration_id = $1").expect("a feed table");
        sqlx::query(&sql)
            .bind(integration_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
