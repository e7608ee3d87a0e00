//! What a directory sync stored, read back from the store for the
//! directory tests (slapd and Samba alike): a synced user by username, and
//! the groups a user belongs to.

use cube_host::store::Store;

/// A synced directory user.
#[derive(Debug)]
pub struct User {
    pub id: String,
    pub enabled: bool,
    pub dn: String,
    pub display_name: Option<String>,
}

/// The synced user of `integration` whose username is `name`.
pub async fn user(store: &Store, integration: i64, name: &str) -> Option<User> {
    let row: Option<(String, i64, String, Option<String>)> = sqlx::query_as(
        "SELECT external_id, enabled, dn, display_name FROM directory_users \
         WHERE integration_id = $1 AND username = $2",
    )
    .bind(integration)
    .bind(name)
    .fetch_optional(store.pool())
    .await
    .unwrap();
    row.map(|(id, enabled, dn, display_name)| User {
        id,
        enabled: enabled != 0,
        dn,
        display_name,
    })
}

/// The names of the groups a user belongs to, with `*` after the direct ones.
pub async fn groups_of(store: &Store, integration: i64, name: &str) -> Vec<String> {
    let id = user(store, integration, name).await.unwrap().id;
    let mut names = Vec::new();
    for m in store.memberships_of_member(integration, &id).await.unwrap() {
        let group: String = sqlx::query_scalar(
            "SELECT name FROM directory_groups WHERE integration_id = $1 AND external_id = $2",
        )
        .bind(integration)
        .bind(&m.group_external_id)
        .fetch_one(store.pool())
        .await
        .unwrap();
        names.push(if m.direct { format!("{group}*") } else { group });
    }
    names.sort();
    names
}
