//! The read side of the directory change feed (decision 0036): changes in
//! the order they were committed, after a cursor, each with the current
//! state of its user or group.
//!
//! A consumer keeps the cursor of the last change it handled and asks for
//! what follows. It misses nothing and sees nothing twice, across restarts
//! of the host and across nodes, because a change only becomes readable
//! once no change ordered before it can still appear:
//!
//! - On SQLite one writer commits at a time, and row ids are taken in that
//!   order.
//! - On PostgreSQL each change carries its transaction's id (`tx_order`),
//!   and the feed is ordered by it. Ids are handed out when transactions
//!   begin writing, not when they commit, so a reader returns only the
//!   rows of transactions older than every transaction still running
//!   (`pg_snapshot_xmin`): those have all ended, and any transaction that
//!   commits later has a larger id, so it sorts after what was returned.
//!   A long write transaction delays the feed (by as long as it runs); it
//!   never reorders it.
//!
//! Changes older than the retention are pruned; a cursor from before the
//! pruned point cannot be continued, and the consumer must read the
//! directory in full again (the API answers 410 with `resync_required`).

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::listing::{
    DirectoryGroup, DirectoryUser, GROUP_COLUMNS, USER_COLUMNS, directory_group_from,
    directory_user_from,
};
use crate::store::params::Params;
use crate::store::{Backend, Store};

/// A position in the feed: after the change with this `(tx_order, id)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct FeedCursor {
    tx: i64,
    id: i64,
}

impl FeedCursor {
    /// Before every change ever recorded.
    pub const START: FeedCursor = FeedCursor { tx: 0, id: 0 };

    pub(in crate::store) fn from_parts(tx: i64, id: i64) -> FeedCursor {
        FeedCursor { tx, id }
    }

    pub(in crate::store) fn parts(self) -> (i64, i64) {
        (self.tx, self.id)
    }

    /// A cursor as [`FeedCursor`]'s `Display` wrote it; `None` for
    /// anything else.
    pub fn parse(text: &str) -> Option<FeedCursor> {
        let (tx, id) = text.split_once('.')?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(tx) || !digits(id) {
            return None;
        }
        Some(FeedCursor {
            tx: tx.parse().ok()?,
            id: id.parse().ok()?,
        })
    }
}

impl fmt::Display for FeedCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.tx, self.id)
    }
}

impl Serialize for FeedCursor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A user or group a change is about: its ids, and its state now (`None`
/// once it is gone).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Changed<T> {
    /// The host's id for it (as the directory API names it); `None` for a
    /// membership's member or group that was deleted before the change
    /// was recorded.
    pub id: Option<i64>,
    pub external_id: String,
    /// `user` or `group` (a membership's member).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<T>,
}

/// One change, as the feed and the `directory.*` webhook events give it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DirectoryChange {
    pub cursor: FeedCursor,
    /// `user.created`, `user.updated`, `user.enabled`, `user.disabled`,
    /// `user.deleted`, `group.created`, `group.updated`, `group.deleted`,
    /// `membership.added`, `membership.updated` (became direct or
    /// indirect), `membership.removed`.
    #[serde(rename = "type")]
    pub change_type: String,
    /// When it was committed, in milliseconds since the epoch.
    pub changed_at: i64,
    pub integration_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Changed<DirectoryUser>>,
    /// A group change's group, or a membership's group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<Changed<DirectoryGroup>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<Changed<()>>,
    /// Memberships: direct, or through nested groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direct: Option<bool>,
}

/// Why a page of the feed cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error(
        "the changes after this cursor are past the feed's retention; read the directory in full again"
    )]
    Expired,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The condition that keeps a reader to changes no running transaction can
/// still come before (see the module's docs).
fn settled(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "1 = 1",
        Backend::Postgres => "tx_order < pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
    }
}

fn cursor_from(row: &AnyRow) -> Result<FeedCursor, sqlx::Error> {
    Ok(FeedCursor {
        tx: row.try_get("tx_order")?,
        id: row.try_get("id")?,
    })
}

impl Store {
    /// Up to `limit` changes after `after`, in commit order; `Expired` when
    /// changes after it have been pruned.
    pub async fn directory_changes_after(
        &self,
        after: FeedCursor,
        limit: i64,
    ) -> Result<Vec<DirectoryChange>, FeedError> {
        let page = self.changes_after(after, limit).await?;
        // Asked after the read: a prune between the two has moved this
        // mark past `after` if it took changes the page should have had.
        let pruned = self.directory_feed_pruned().await?;
        if after < pruned {
            return Err(FeedError::Expired);
        }
        Ok(page)
    }

    /// Up to `limit` changes after `after`, in commit order, whether or not
    /// changes after it were pruned (the relay carries on from what is
    /// kept).
    pub(super) async fn changes_after(
        &self,
        after: FeedCursor,
        limit: i64,
    ) -> Result<Vec<DirectoryChange>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT id, tx_order, integration_id, entity, change, entity_id, external_id, member_id, \
             member_external_id, member_kind, direct, changed_at FROM directory_changes \
             WHERE (tx_order, id) > ($1, $2) AND {} ORDER BY tx_order, id LIMIT $3",
            settled(self.backend())
        ))
        .bind(after.tx)
        .bind(after.id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let mut user_ids = Vec::new();
        let mut group_ids = Vec::new();
        for row in &rows {
            let id: Option<i64> = row.try_get("entity_id")?;
            match (row.try_get::<String, _>("entity")?.as_str(), id) {
                ("user", Some(id)) => user_ids.push(id),
                (_, Some(id)) => group_ids.push(id),
                _ => {}
            }
        }
        let users = self
            .current_of(
                &user_ids,
                "u",
                &format!("{USER_COLUMNS} FROM directory_users u"),
                directory_user_from,
            )
            .await?;
        let groups = self
            .current_of(
                &group_ids,
                "g",
                &format!("{GROUP_COLUMNS} FROM directory_groups g"),
                directory_group_from,
            )
            .await?;
        rows.iter()
            .map(|row| {
                let entity: String = row.try_get("entity")?;
                let change: String = row.try_get("change")?;
                let id: Option<i64> = row.try_get("entity_id")?;
                let external_id: String = row.try_get("external_id")?;
                let mut out = DirectoryChange {
                    cursor: cursor_from(row)?,
                    change_type: format!("{entity}.{change}"),
                    changed_at: row.try_get("changed_at")?,
                    integration_id: row.try_get("integration_id")?,
                    user: None,
                    group: None,
                    member: None,
                    direct: None,
                };
                match entity.as_str() {
                    "user" => {
                        out.user = Some(Changed {
                            id,
                            current: id.and_then(|id| users.get(&id).cloned()),
                            external_id,
                            kind: None,
                        })
                    }
                    _ => {
                        out.group = Some(Changed {
                            id,
                            current: id.and_then(|id| groups.get(&id).cloned()),
                            external_id,
                            kind: None,
                        })
                    }
                }
                if entity == "membership" {
                    out.member = Some(Changed {
                        id: row.try_get("member_id")?,
                        external_id: row
                            .try_get::<Option<String>, _>("member_external_id")?
                            .unwrap_or_default(),
                        kind: row.try_get("member_kind")?,
                        current: None,
                    });
                    out.direct = row.try_get::<Option<i64>, _>("direct")?.map(|d| d != 0);
                }
                Ok(out)
            })
            .collect()
    }

    /// The feed's newest readable position: a consumer that reads the
    /// directory in full after taking it, then follows the feed from it,
    /// misses nothing.
    pub async fn directory_feed_head(&self) -> Result<FeedCursor, sqlx::Error> {
        let row = sqlx::query(&format!(
            "SELECT tx_order, id FROM directory_changes WHERE {} \
             ORDER BY tx_order DESC, id DESC LIMIT 1",
            settled(self.backend())
        ))
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => cursor_from(&row),
            None => self.directory_feed_pruned().await,
        }
    }

    /// The position retention has pruned through: a cursor before it
    /// cannot be continued.
    pub async fn directory_feed_pruned(&self) -> Result<FeedCursor, sqlx::Error> {
        let row = sqlx::query(
            "SELECT pruned_tx AS tx_order, pruned_id AS id FROM directory_feed WHERE id = 1",
        )
        .fetch_one(self.pool())
        .await?;
        cursor_from(&row)
    }

    /// Prunes the changes recorded before `before` (milliseconds since the
    /// epoch) from the start of the feed, in batches of `batch` so that
    /// writers wait for no more than one: the feed is pruned up to its
    /// first change that is not that old (changes are nearly in time order;
    /// one recorded earlier behind it waits for it). Returns how many were
    /// pruned.
    pub async fn prune_directory_changes(
        &self,
        before: i64,
        batch: i64,
    ) -> Result<u64, sqlx::Error> {
        let mut pruned = 0;
        loop {
            let mut tx = self.begin_write().await?;
            let rows = sqlx::query(&format!(
                "SELECT tx_order, id, changed_at FROM directory_changes WHERE {} \
                 ORDER BY tx_order, id LIMIT $1",
                settled(self.backend())
            ))
            .bind(batch)
            .fetch_all(&mut *tx)
            .await?;
            let mut through = None;
            for row in &rows {
                if row.try_get::<i64, _>("changed_at")? >= before {
                    break;
                }
                through = Some(cursor_from(row)?);
            }
            let Some(through) = through else {
                tx.commit().await?;
                return Ok(pruned);
            };
            let done =
                sqlx::query("DELETE FROM directory_changes WHERE (tx_order, id) <= ($1, $2)")
                    .bind(through.tx)
                    .bind(through.id)
                    .execute(&mut *tx)
                    .await?;
            sqlx::query("UPDATE directory_feed SET pruned_tx = $1, pruned_id = $2 WHERE id = 1")
                .bind(through.tx)
                .bind(through.id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            pruned += done.rows_affected();
            if rows.last().map(cursor_from).transpose()? != Some(through)
                || (rows.len() as i64) < batch
            {
                return Ok(pruned);
            }
        }
    }

    /// The current state of the users or groups with these row ids, by id.
    async fn current_of<T>(
        &self,
        ids: &[i64],
        alias: &str,
        columns_from: &str,
        row_to: fn(&AnyRow) -> Result<T, sqlx::Error>,
    ) -> Result<HashMap<i64, T>, sqlx::Error> {
        let mut found = HashMap::new();
        let mut conn = self.pool().acquire().await?;
        for chunk in ids.chunks(400) {
            let sql = format!(
                "SELECT {alias}.id AS row_id, {columns_from} JOIN integrations i ON i.id = {alias}.integration_id \
                 WHERE {alias}.id IN ({})",
                Params::on(&conn).list(chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&mut *conn).await? {
                found.insert(row.try_get("row_id")?, row_to(&row)?);
            }
        }
        Ok(found)
    }
}
