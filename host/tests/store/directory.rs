//! Directory users, groups and memberships in the store, on SQLite and
//! PostgreSQL: members stated by DN resolve to synced entries, nested
//! groups give effective memberships (cycles included), and a renamed or
//! moved member stays a member because it is tracked by its stable id.

use cube_test_support as common;

use cube_host::runtime::types::Record;
use cube_host::store::Store;
use cube_host::store::integrations::IntegrationFields;
use serde_json::json;

async fn integration(store: &Store) -> i64 {
    common::probe_integration(
        store,
        &IntegrationFields::new("Directory", Default::default()),
    )
    .await
}

fn user(id: &str, dn: &str, version: &str) -> Record {
    common::record("user", id, json!({"username": id, "dn": dn}), version)
}

fn group(id: &str, dn: &str, member_dns: &[&str], version: &str) -> Record {
    common::record(
        "group",
        id,
        json!({"name": id, "dn": dn, "member_dns": member_dns}),
        version,
    )
}

/// `(group, direct)` pairs of a member, sorted.
async fn groups_of(store: &Store, integration: i64, member: &str) -> Vec<(String, bool)> {
    store
        .memberships_of_member(integration, member)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.group_external_id, m.direct))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_groups_resolve_by_dn_and_survive_renames_and_cycles() {
    common::each_backend(|store| async move {
        let id = integration(&store).await;
        // Groups come first here, their members later: resolution happens
        // when memberships are rebuilt, not when a group is stored.
        let page = vec![
            group(
                "g-eng",
                "CN=Engineers,OU=Groups,DC=x",
                &["CN=Ada, OU=People,DC=x", "cn=grace,ou=people,dc=x"],
                "1",
            ),
            // admins contains engineers (nested) and linus; ops and admins
            // contain each other (a cycle).
            group(
                "g-admins",
                "cn=admins,ou=groups,dc=x",
                &[
                    "cn=engineers,ou=groups,dc=x",
                    "cn=linus,ou=people,dc=x",
                    "cn=ops,ou=groups,dc=x",
                ],
                "1",
            ),
            group(
                "g-ops",
                "cn=ops,ou=groups,dc=x",
                &[
                    "cn=admins,ou=groups,dc=x",
                    "cn=nobody-synced,ou=people,dc=x",
                ],
                "1",
            ),
            user("ada", "cn=Ada,ou=People,dc=x", "1"),
            user("grace", "cn=Grace,ou=People,dc=x", "1"),
            user("linus", "cn=Linus,ou=People,dc=x", "1"),
        ];
        store.apply_page(id, None, &page, None).await.unwrap();
        store.rebuild_memberships(id).await.unwrap();

        let ada_groups: Vec<(String, bool)> = vec![
            ("g-admins".into(), false),
            ("g-eng".into(), true),
            ("g-ops".into(), false),
        ];
        assert_eq!(groups_of(&store, id, "ada").await, ada_groups);
        assert_eq!(
            groups_of(&store, id, "linus").await,
            vec![("g-admins".into(), true), ("g-ops".into(), false)]
        );
        // The cycle: each of ops and admins is an effective member of the
        // other, and never of itself.
        assert_eq!(
            groups_of(&store, id, "g-admins").await,
            vec![("g-ops".into(), true)]
        );
        assert_eq!(
            groups_of(&store, id, "g-ops").await,
            vec![("g-admins".into(), true)]
        );
        let members: Vec<(String, bool)> = store
            .members_of_group(id, "g-admins")
            .await
            .unwrap()
            .into_iter()
            .map(|m| (m.member_external_id, m.direct))
            .collect();
        assert_eq!(
            members,
            vec![
                ("ada".into(), false),
                ("g-eng".into(), true),
                ("g-ops".into(), true),
                ("grace".into(), false),
                ("linus".into(), true),
            ],
            "a DN that names nothing synced is left out"
        );

        // Ada is moved to another OU. The directory does not rewrite the
        // engineers group (Active Directory would not bump its change
        // stamp), yet she stays a member: she is followed by her id.
        store
            .apply_page(id, None, &[user("ada", "cn=Ada,ou=Moved,dc=x", "2")], None)
            .await
            .unwrap();
        store.rebuild_memberships(id).await.unwrap();
        assert_eq!(groups_of(&store, id, "ada").await, ada_groups);

        // Engineers drops grace; a deleted group takes its memberships along.
        store
            .apply_page(
                id,
                None,
                &[
                    group(
                        "g-eng",
                        "cn=engineers,ou=groups,dc=x",
                        &["cn=ada,ou=moved,dc=x"],
                        "2",
                    ),
                    Record {
                        deleted: true,
                        ..group("g-ops", "", &[], "2")
                    },
                ],
                None,
            )
            .await
            .unwrap();
        store.rebuild_memberships(id).await.unwrap();
        assert_eq!(groups_of(&store, id, "grace").await, vec![]);
        assert_eq!(groups_of(&store, id, "g-admins").await, vec![]);
        assert_eq!(
            groups_of(&store, id, "ada").await,
            vec![("g-admins".into(), false), ("g-eng".into(), true)]
        );
    })
    .await;
}

/// A DN is an address, not an identity: a statement "cn=kim is a member"
/// means the entry that held the DN when the group was read. Another entry
/// that later takes the DN (the old one deleted, a new one created) is no
/// member through it; nor is one that takes a DN naming nothing when the
/// group was read. Only the group read again can make it one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_stated_by_dn_is_the_entry_that_held_it_not_whoever_takes_it_next() {
    common::each_backend(|store| async move {
        let id = integration(&store).await;
        let page = vec![
            user("kim-1", "cn=kim,ou=people,dc=x", "1"),
            group(
                "g-admins",
                "cn=admins,ou=groups,dc=x",
                &["cn=kim,ou=people,dc=x", "cn=ghost,ou=people,dc=x"],
                "1",
            ),
        ];
        store.apply_page(id, None, &page, None).await.unwrap();
        store.rebuild_memberships(id).await.unwrap();
        assert_eq!(
            groups_of(&store, id, "kim-1").await,
            vec![("g-admins".into(), true)]
        );

        // kim is deleted; another account takes her DN, and one takes the
        // DN that named nothing. The group is not read again.
        let page = vec![
            Record {
                deleted: true,
                ..user("kim-1", "", "2")
            },
            user("kim-2", "CN=Kim,OU=People,DC=x", "1"),
            user("ghost", "cn=ghost,ou=people,dc=x", "1"),
        ];
        store.apply_page(id, None, &page, None).await.unwrap();
        store.rebuild_memberships(id).await.unwrap();
        assert_eq!(groups_of(&store, id, "kim-2").await, vec![]);
        assert_eq!(groups_of(&store, id, "ghost").await, vec![]);
        assert!(
            store
                .members_of_group(id, "g-admins")
                .await
                .unwrap()
                .is_empty()
        );

        // The group read again under the same version (a full sync rereads
        // every group): its members are restated, without counting it as an
        // update. Now the directory says kim-2's DN is a member: she is.
        let reread = group(
            "g-admins",
            "cn=admins,ou=groups,dc=x",
            &["cn=kim,ou=people,dc=x"],
            "1",
        );
        let counts = store.apply_page(id, None, &[reread], None).await.unwrap();
        assert_eq!((counts.created, counts.updated), (0, 0));
        store.rebuild_memberships(id).await.unwrap();
        assert_eq!(
            groups_of(&store, id, "kim-2").await,
            vec![("g-admins".into(), true)]
        );
    })
    .await;
}

/// What the user's page says it is a member of, and what is stored.
async fn member_of(store: &Store, integration: i64, user: &str) -> (Vec<String>, String) {
    let detail = store
        .directory_user(integration, user)
        .await
        .unwrap()
        .unwrap();
    let stored: String = sqlx::query_scalar(
        "SELECT attributes_json FROM directory_users WHERE integration_id = $1 AND external_id = $2",
    )
    .bind(integration)
    .bind(user)
    .fetch_one(store.pool())
    .await
    .unwrap();
    (detail.member_of, stored)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_member_of_follows_a_change_to_a_group_alone() {
    common::each_backend(|store| async move {
        let id = integration(&store).await;
        // A connector that sends member_of with its users, as read then.
        let mut ada = user("ada", "cn=ada,ou=people,dc=x", "1");
        ada.fields = json!({"username": "ada", "dn": "cn=ada,ou=people,dc=x",
                            "member_of": ["cn=eng,ou=groups,dc=x"]})
        .to_string();
        let page = vec![
            ada,
            user("grace", "cn=grace,ou=people,dc=x", "1"),
            group(
                "g-eng",
                "cn=eng,ou=groups,dc=x",
                &["cn=ada,ou=people,dc=x"],
                "1",
            ),
            group("g-ops", "cn=ops,ou=groups,dc=x", &[], "1"),
        ];
        store.apply_page(id, None, &page, None).await.unwrap();
        store.rebuild_memberships(id).await.unwrap();
        let (groups, stored) = member_of(&store, id, "ada").await;
        assert_eq!(groups, ["cn=eng,ou=groups,dc=x"]);
        assert!(!stored.contains("member_of"), "{stored}");
        assert!(member_of(&store, id, "grace").await.0.is_empty());

        // Only the groups change (an incremental sync reads them, not the
        // users, whose entries and change stamps are as they were): ada
        // leaves eng and joins ops, grace joins eng.
        let page = vec![
            group(
                "g-eng",
                "cn=eng,ou=groups,dc=x",
                &["cn=grace,ou=people,dc=x"],
                "2",
            ),
            group(
                "g-ops",
                "cn=ops,ou=groups,dc=x",
                &["cn=ada,ou=people,dc=x"],
                "2",
            ),
        ];
        store.apply_page(id, None, &page, None).await.unwrap();
        store.rebuild_memberships(id).await.unwrap();
        assert_eq!(
            member_of(&store, id, "ada").await.0,
            ["cn=ops,ou=groups,dc=x"]
        );
        assert_eq!(
            member_of(&store, id, "grace").await.0,
            ["cn=eng,ou=groups,dc=x"]
        );
    })
    .await;
}
