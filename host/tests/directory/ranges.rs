//! Large Active Directory groups: the connector (`plugins/active-directory`)
//! in the real sandbox, through the real sync engine and store, against a
//! server on the wire that answers like a domain controller does for a
//! group with more members than MaxValRange (1,500): `member;range=0-1499`
//! in the group search, then one base read per further slice, the last
//! named `member;range=N-*` (MS-ADTS 3.1.1.3.1.3.3). Samba, the other AD
//! the tests use, returns every value at once, so only this double makes
//! the connector's ranged retrieval run (see `common::fake_ad`).

use cube_test_support as common;

use std::collections::BTreeSet;
use std::time::Duration;

use cube_host::runtime::LdapGrant;
use cube_host::store::integrations::IntegrationFields;
use ldap3_proto::proto::LdapResultCode;
use serde_json::json;

use common::SyncSetup;
use common::fake_ad::{self, BASE, FakeAd, Fault};

async fn setup(port: u16) -> SyncSetup {
    // The AD preset's defaults: its user and group filters, objectGUID,
    // uSNChanged windows. No TLS: a test double with a test password.
    let config = json!({
        "server": "127.0.0.1",
        "port": port,
        "tls": "none",
        "bind_dn": fake_ad::BIND_DN,
        "base_dn": BASE,
        "user_base": format!("OU=People,{BASE}"),
        "group_base": format!("OU=Groups,{BASE}"),
        "page_size": 100,
    });
    let fields = IntegrationFields {
        ldap_grants: vec![LdapGrant::parse(&format!("ldap://127.0.0.1:{port}")).unwrap()],
        ..IntegrationFields::new("Large groups", config.as_object().unwrap().clone())
    };
    SyncSetup::builder("active-directory", fields)
        .secret("password", fake_ad::PASSWORD)
        .build()
        .await
}

/// The messages (and connector logs) of a job's attempts, oldest first.
async fn messages(setup: &SyncSetup, job: i64) -> Vec<(String, String)> {
    setup
        .logs_of(job)
        .await
        .into_iter()
        .map(|l| (l.status, format!("{} {}", l.message, l.log)))
        .collect()
}

/// The external ids of a group's members, by the group's name, and how
/// many member DNs the group stated.
async fn members(setup: &SyncSetup, group: &str) -> (Vec<String>, i64) {
    let store = &setup.deps.store;
    let id: String = sqlx::query_scalar(
        "SELECT external_id FROM directory_groups WHERE integration_id = $1 AND name = $2",
    )
    .bind(setup.integration)
    .bind(group)
    .fetch_one(store.pool())
    .await
    .unwrap_or_else(|e| panic!("group {group}: {e}"));
    let stated: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM directory_group_members \
         WHERE integration_id = $1 AND group_external_id = $2",
    )
    .bind(setup.integration)
    .bind(&id)
    .fetch_one(store.pool())
    .await
    .unwrap();
    let ids = store
        .members_of_group(setup.integration, &id)
        .await
        .unwrap()
        .into_iter()
        .inspect(|m| assert!(m.direct, "{m:?}"))
        .map(|m| m.member_external_id)
        .collect();
    (ids, stated)
}

/// Asserts `group` holds exactly users 0..n, each once.
async fn assert_members(setup: &SyncSetup, group: &str, n: usize) {
    let (ids, stated) = members(setup, group).await;
    assert_eq!(ids.len(), n, "{group}: memberships");
    assert_eq!(stated, n as i64, "{group}: stated member DNs");
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), n, "{group}: a member twice");
    let expected: BTreeSet<String> = (0..n).map(fake_ad::user_id).collect();
    assert_eq!(
        unique,
        expected.iter().collect::<BTreeSet<_>>(),
        "{group}: exactly its members"
    );
}

fn group_dn(name: &str) -> String {
    format!("CN={name},OU=Groups,{BASE}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_larger_than_a_slice_are_read_in_full_range_by_range() {
    // 1,500 members fit in one answer; 1,501 need a second slice of one
    // value (`member;range=1500-*`); 5,000 need four, the last
    // `member;range=4500-*`. 150 groups of one member after them make the
    // group search take two pages, so a slice is read while a paged
    // search is under way (and the host reads its next page ahead).
    let ad = FakeAd::start(fake_ad::directory(
        5000,
        &[("exactly1500", 1500), ("over1501", 1501), ("big5000", 5000)],
        150,
    ))
    .await;
    let setup = setup(ad.port).await;
    // A spent cookie sent again made the connector read its window again
    // and again: a sync that never ended.
    let job = tokio::time::timeout(Duration::from_secs(400), setup.sync("full"))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the sync did not end; searches refused for a spent cookie: {}",
                ad.refused_cookies()
            )
        });
    let logs = messages(&setup, job.id).await;
    assert_eq!(
        (job.status.as_str(), job.attempts),
        ("succeeded", 1),
        "{logs:?}"
    );

    assert_members(&setup, "exactly1500", 1500).await;
    assert_members(&setup, "over1501", 1501).await;
    assert_members(&setup, "big5000", 5000).await;
    for filler in ["filler000", "filler149"] {
        assert_members(&setup, filler, 1).await;
    }
    let groups: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM directory_groups WHERE integration_id = $1",
    )
    .bind(setup.integration)
    .fetch_one(setup.deps.store.pool())
    .await
    .unwrap();
    assert_eq!(groups, 153);
    // The group search went on with each cookie once: the host kept the
    // page it had read ahead while the slices were read.
    assert_eq!(ad.refused_cookies(), 0);

    // The connector asked for each further slice once, from where the last
    // ended, and for none of a group that fitted.
    assert_eq!(
        ad.ranged_requests(&group_dn("exactly1500")),
        Vec::<String>::new()
    );
    assert_eq!(
        ad.ranged_requests(&group_dn("over1501")),
        ["member;range=1500-*"]
    );
    assert_eq!(
        ad.ranged_requests(&group_dn("big5000")),
        [
            "member;range=1500-*",
            "member;range=3000-*",
            "member;range=4500-*"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slice_that_fails_fails_the_sync_and_keeps_the_stored_members() {
    let ad = FakeAd::start(fake_ad::directory(3200, &[("big3200", 3200)], 0)).await;
    let big = group_dn("big3200");
    let setup = setup(ad.port).await;
    let first = setup.sync("full").await;
    assert_eq!(
        first.status,
        "succeeded",
        "{:?}",
        messages(&setup, first.id).await
    );
    assert_members(&setup, "big3200", 3200).await;

    // The last slice is refused: not something a retry fixes.
    ad.set_fault(Fault::Error {
        from: 3000,
        code: LdapResultCode::OperationsError,
    });
    ad.clear_requests();
    let refused = setup.sync("full").await;
    let logs = messages(&setup, refused.id).await;
    assert_eq!(
        (refused.status.as_str(), refused.attempts),
        ("failed", 1),
        "{logs:?}"
    );
    let error = refused.error.clone().unwrap_or_default();
    assert!(
        error.contains(&big) && error.contains("3000") && error.contains("LDAP result 1"),
        "the message names the group, the slice and the server's answer: {error}"
    );
    assert_eq!(
        ad.ranged_requests(&big),
        ["member;range=1500-*", "member;range=3000-*"]
    );
    assert_members(&setup, "big3200", 3200).await;

    // The connection drops at the second slice: retried, then given up.
    ad.set_fault(Fault::Drop { from: 1500 });
    let dropped = setup.sync("full").await;
    let logs = messages(&setup, dropped.id).await;
    assert_eq!(
        (dropped.status.as_str(), dropped.attempts),
        ("failed", 3),
        "{logs:?}"
    );
    assert!(
        logs.iter().take(2).all(|(_, m)| m.contains("will retry")),
        "{logs:?}"
    );
    let error = dropped.error.clone().unwrap_or_default();
    assert!(
        error.contains(&big) && error.contains("1500"),
        "the message names the group and the slice: {error}"
    );
    assert_members(&setup, "big3200", 3200).await;
    let users: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM directory_users WHERE integration_id = $1",
    )
    .bind(setup.integration)
    .fetch_one(setup.deps.store.pool())
    .await
    .unwrap();
    assert_eq!(users, 3200, "a failed full sync deletes nothing");

    // The server answers again: the next sync reads the group in full.
    ad.set_fault(Fault::None);
    let again = setup.sync("full").await;
    assert_eq!(
        again.status,
        "succeeded",
        "{:?}",
        messages(&setup, again.id).await
    );
    assert_members(&setup, "big3200", 3200).await;
}
