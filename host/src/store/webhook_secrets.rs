//! The sealed secret of a webhook, inbound (`integration_webhooks`) or
//! outbound (`outbound_webhooks`): one `secret_sealed` column, sealed
//! bound to the row's id. A new row is therefore inserted without its
//! secret and sealed once its id exists; a key rotation seals it again.

use sqlx::{AnyConnection, Row};

use super::AnyQuery;

/// The tables that keep a webhook secret.
pub(super) const TABLES: [&str; 2] = ["integration_webhooks", "outbound_webhooks"];

/// Writes `sealed` as the secret of row `id` of `table`.
pub(super) async fn write_sealed(
    conn: &mut AnyConnection,
    table: &str,
    id: i64,
    sealed: String,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "UPDATE {table} SET secret_sealed = $1 WHERE id = $2"
    ))
    .bind(sealed)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Runs `insert` (a new row of `table` with an empty secret, `RETURNING
/// id`), then seals the secret with what `seal` returns for the new id.
/// Returns the id.
pub(super) async fn insert_sealed(
    conn: &mut AnyConnection,
    table: &str,
    insert: AnyQuery<'_>,
    seal: impl FnOnce(i64) -> String,
) -> Result<i64, sqlx::Error> {
    let id: i64 = insert.fetch_one(&mut *conn).await?.try_get("id")?;
    write_sealed(conn, table, id, seal(id)).await?;
    Ok(id)
}
