//! Resolved memberships (`directory_memberships`): rebuilt after a sync
//! from what the groups state (see the parent module's docs), with only
//! the differences written, each recorded in the change feed.

use sqlx::{AnyConnection, Row};

use super::{changes, drop_unpinned_members, pin_members_by_dn};
use crate::store::Store;

/// One resolved membership, for the directory pages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub group_external_id: String,
    pub member_external_id: String,
    pub direct: bool,
}

impl Store {
    /// Rebuilds an integration's resolved memberships from what its groups
    /// state, at the end of a sync: members stated by DN are pinned to the
    /// entries now holding those DNs, and dropped where none does (see the
    /// module's docs); then the direct memberships by id against the synced
    /// users and groups, then the effective ones through nested groups,
    /// cycles included. The new set is computed beside the stored one
    /// (`directory_memberships_next`) and only the differences are written,
    /// each recorded in the change feed. One transaction: readers see the
    /// old set or the new one.
    pub async fn rebuild_memberships(&self, integration_id: i64) -> Result<(), sqlx::Error> {
        let mut tx = self.begin_write().await?;
        rebuild_memberships_in(&mut tx, integration_id).await?;
        tx.commit().await
    }

    /// The groups a synced user or group belongs to, directly or through
    /// nested groups.
    pub async fn memberships_of_member(
        &self,
        integration_id: i64,
        member_external_id: &str,
    ) -> Result<Vec<Membership>, sqlx::Error> {
        self.memberships(
            integration_id,
            "member_external_id",
            member_external_id,
            "group_external_id",
        )
        .await
    }

    /// The members of a synced group, direct and through nested groups.
    pub async fn members_of_group(
        &self,
        integration_id: i64,
        group_external_id: &str,
    ) -> Result<Vec<Membership>, sqlx::Error> {
        self.memberships(
            integration_id,
            "group_external_id",
            group_external_id,
            "member_external_id",
        )
        .await
    }

    /// The memberships of an integration whose `side` (the group or the
    /// member column) is `external_id`, ordered by the `other` column.
    async fn memberships(
        &self,
        integration_id: i64,
        side: &str,
        external_id: &str,
        other: &str,
    ) -> Result<Vec<Membership>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT group_external_id, member_external_id, direct FROM directory_memberships \
             WHERE integration_id = $1 AND {side} = $2 ORDER BY {other}"
        ))
        .bind(integration_id)
        .bind(external_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(membership).collect()
    }
}

/// [`Store::rebuild_memberships`] in the caller's transaction (a SCIM write
/// changes a group and its resolved memberships together).
pub(in crate::store) async fn rebuild_memberships_in(
    conn: &mut AnyConnection,
    integration_id: i64,
) -> Result<(), sqlx::Error> {
    pin_members_by_dn(&mut *conn, integration_id, None).await?;
    drop_unpinned_members(&mut *conn, integration_id).await?;
    let clear_next = "DELETE FROM directory_memberships_next WHERE integration_id = $1";
    sqlx::query(clear_next)
        .bind(integration_id)
        .execute(&mut *conn)
        .await?;
    // One join per table, each able to use an index, rather than one
    // join on an OR.
    for (table, by_dn, column) in DIRECT_MEMBER_JOINS {
        sqlx::query(&direct_members_sql(table, by_dn, column))
            .bind(integration_id)
            .execute(&mut *conn)
            .await?;
    }
    // The recursive step joins the computed direct memberships
    // themselves, through their index by member: a common table of the
    // direct edges instead had SQLite scan all of them once per
    // effective membership found (groups of thousands of members took
    // minutes).
    sqlx::query(
        "INSERT INTO directory_memberships_next (integration_id, group_external_id, member_external_id, direct) \
         WITH RECURSIVE effective (g, m) AS ( \
           SELECT group_external_id, member_external_id FROM directory_memberships_next \
           WHERE integration_id = $1 AND direct = 1 \
           UNION SELECT d.group_external_id, e.m FROM effective e CROSS JOIN directory_memberships_next d \
           WHERE d.integration_id = $1 AND d.member_external_id = e.g AND d.direct = 1) \
         SELECT $1, e.g, e.m, 0 FROM effective e WHERE e.g <> e.m \
         AND NOT EXISTS (SELECT 1 FROM directory_memberships_next d WHERE d.integration_id = $1 \
           AND d.group_external_id = e.g AND d.member_external_id = e.m)",
    )
    .bind(integration_id)
    .execute(&mut *conn)
    .await?;
    apply_membership_differences(&mut *conn, integration_id).await?;
    sqlx::query(clear_next)
        .bind(integration_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn membership(row: &sqlx::any::AnyRow) -> Result<Membership, sqlx::Error> {
    Ok(Membership {
        group_external_id: row.try_get("group_external_id")?,
        member_external_id: row.try_get("member_external_id")?,
        direct: row.try_get::<i64, _>("direct")? != 0,
    })
}

/// Writes the differences between an integration's computed memberships
/// (`directory_memberships_next`) and its stored ones, each recorded in the
/// change feed first: memberships gone, memberships new, and memberships
/// that became direct or indirect.
async fn apply_membership_differences(
    conn: &mut AnyConnection,
    integration_id: i64,
) -> Result<(), sqlx::Error> {
    const SAME: &str = "o.integration_id = m.integration_id \
        AND o.group_external_id = m.group_external_id AND o.member_external_id = m.member_external_id";
    let gone = format!("NOT EXISTS (SELECT 1 FROM directory_memberships_next o WHERE {SAME})");
    let new = format!("NOT EXISTS (SELECT 1 FROM directory_memberships o WHERE {SAME})");
    let flipped = format!(
        "EXISTS (SELECT 1 FROM directory_memberships o WHERE {SAME} AND o.direct <> m.direct)"
    );
    changes::record_memberships(
        conn,
        integration_id,
        "removed",
        "directory_memberships",
        &gone,
    )
    .await?;
    changes::record_memberships(
        conn,
        integration_id,
        "added",
        "directory_memberships_next",
        &new,
    )
    .await?;
    changes::record_memberships(
        conn,
        integration_id,
        "updated",
        "directory_memberships_next",
        &flipped,
    )
    .await?;
    let unaliased = |condition: &str| condition.replace("m.", "directory_memberships.");
    sqlx::query(&format!(
        "DELETE FROM directory_memberships WHERE integration_id = $1 AND {}",
        unaliased(&gone)
    ))
    .bind(integration_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(&format!(
        "UPDATE directory_memberships SET direct = 1 - direct WHERE integration_id = $1 AND EXISTS \
         (SELECT 1 FROM directory_memberships_next o WHERE {} AND o.direct <> directory_memberships.direct)",
        unaliased(SAME)
    ))
    .bind(integration_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(&format!(
        "INSERT INTO directory_memberships (integration_id, group_external_id, member_external_id, direct) \
         SELECT m.integration_id, m.group_external_id, m.member_external_id, m.direct \
         FROM directory_memberships_next m WHERE m.integration_id = $1 AND {new}"
    ))
    .bind(integration_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The tables a group's stated members are found in, by external id (once
/// pinned, every statement is by id).
const DIRECT_MEMBER_JOINS: [(&str, u8, &str); 2] = [
    ("directory_users", 0, "external_id"),
    ("directory_groups", 0, "external_id"),
];

/// Computes the direct memberships stated by groups whose members are found
/// in `table` (by `column`). The stated members drive the join (`CROSS
/// JOIN` fixes SQLite's order; PostgreSQL plans it as any join): left to
/// itself, SQLite without statistics walked every user and, for each, every
/// stated member, which grows with users times members.
fn direct_members_sql(table: &str, by_dn: u8, column: &str) -> String {
    format!(
        "INSERT INTO directory_memberships_next (integration_id, group_external_id, member_external_id, direct) \
         SELECT DISTINCT m.integration_id, m.group_external_id, t.external_id, 1 \
         FROM directory_group_members m CROSS JOIN {table} t \
         WHERE m.integration_id = $1 AND m.member_by_dn = {by_dn} \
         AND t.integration_id = m.integration_id AND t.{column} = m.member_key \
         AND NOT EXISTS (SELECT 1 FROM directory_memberships_next d WHERE d.integration_id = $1 \
           AND d.group_external_id = m.group_external_id AND d.member_external_id = t.external_id)"
    )
}

#[cfg(test)]
mod tests {
    use super::{DIRECT_MEMBER_JOINS, direct_members_sql};
    use crate::store::Store;

    #[tokio::test]
    async fn stated_members_drive_the_membership_joins() {
        use sqlx::Row;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).await.unwrap();
        for (table, by_dn, column) in DIRECT_MEMBER_JOINS {
            let sql = direct_members_sql(table, by_dn, column).replace("$1", "1");
            let plan: Vec<String> = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
                .fetch_all(store.pool())
                .await
                .unwrap()
                .iter()
                .map(|row| row.try_get::<String, _>("detail").unwrap())
                .collect();
            let steps: Vec<&String> = plan.iter().filter(|d| d.starts_with("SEARCH")).collect();
            assert!(steps[0].starts_with("SEARCH m "), "{plan:?}");
            assert!(
                steps[1].starts_with("SEARCH t ")
                    && steps[1].contains(&format!("(integration_id=? AND {column}=?)")),
                "each stated member finds its {table} row by {column}: {plan:?}"
            );
        }
    }
}
