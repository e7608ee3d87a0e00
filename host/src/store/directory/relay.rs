//! The directory's changes as outbound webhook events
//! (`directory.user.created` ... `directory.membership.removed`): the
//! relay reads the change feed after the position it has relayed to
//! (`directory_feed.relayed_*`), queues one event per change for the
//! subscribers that chose its type, and moves its position on, all in one
//! transaction. So an event is queued once per change, whichever node
//! relays (the position's row is locked while a node relays), and a crash
//! between reading and queueing loses nothing.
//!
//! An event's data is the change as the feed gives it, with its `cursor`:
//! a receiver that wants to be sure it missed nothing can compare it with
//! the feed.

use serde_json::Value;
use sqlx::Row;

use super::feed::FeedCursor;
use crate::store::outbound::{anyone_wants, queue_events};
use crate::store::{Backend, Store};

impl Store {
    /// Relays up to `limit` changes; returns how many were relayed (fewer
    /// than `limit`: the relay has caught up). With no subscriber to any
    /// directory event, the position moves to the head at once.
    pub async fn relay_directory_changes(&self, limit: i64) -> Result<usize, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        let lock = match self.backend() {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        };
        let row = sqlx::query(&format!(
            "SELECT relayed_tx, relayed_id FROM directory_feed WHERE id = 1{lock}"
        ))
        .fetch_one(&mut *tx)
        .await?;
        let relayed =
            FeedCursor::from_parts(row.try_get("relayed_tx")?, row.try_get("relayed_id")?);
        let wanted = anyone_wants(&mut tx, |e| e.starts_with("directory.")).await?;
        let (next, count) = if wanted {
            // Changes pruned before they were relayed are gone: carry on
            // from what the feed still holds.
            let from = relayed.max(self.directory_feed_pruned().await?);
            let page = self.changes_after(from, limit).await?;
            let events: Vec<(String, Value)> = page
                .iter()
                .map(|change| {
                    (
                        format!("directory.{}", change.change_type),
                        serde_json::to_value(change).expect("a change serialises"),
                    )
                })
                .collect();
            queue_events(&mut tx, &events).await?;
            (page.last().map(|c| c.cursor).unwrap_or(from), page.len())
        } else {
            (self.directory_feed_head().await?.max(relayed), 0)
        };
        // Nothing new (most rounds): no write, so the round costs SQLite no
        // fsync.
        if next != relayed {
            let (tx_order, id) = next.parts();
            sqlx::query("UPDATE directory_feed SET relayed_tx = $1, relayed_id = $2 WHERE id = 1")
                .bind(tx_order)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(count)
    }
}
