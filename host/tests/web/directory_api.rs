//! The directory API over real HTTP (`/api/v1/directory`): users and groups
//! read with a `directory:read` token, filtered, paged by cursor without a
//! repeat or a gap while a sync writes between pages, memberships direct
//! and effective. The data goes in through the store's own sync API.

use cube_test_support as common;

use common::client::Bearer;

use common::api_tokens::token_of;

use std::collections::BTreeSet;

use cube_host::runtime::types::Record;
use cube_host::store::api_tokens::Scope;
use cube_host::store::integrations::IntegrationFields;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn user(id: &str, enabled: bool) -> Record {
    common::record(
        "user",
        id,
        json!({"username": id, "display_name": format!("User {id}"), "email": format!("{id}@corp.example"),
               "dn": format!("cn={id},ou=People,dc=corp"), "enabled": enabled}),
        "1",
    )
}

fn group(id: &str, member_dns: &[String]) -> Record {
    common::record(
        "group",
        id,
        json!({"name": id, "dn": format!("cn={id},ou=Groups,dc=corp"), "member_dns": member_dns}),
        "1",
    )
}

fn dn(id: &str) -> String {
    format!("cn={id},ou=People,dc=corp")
}

fn group_dn(id: &str) -> String {
    format!("cn={id},ou=Groups,dc=corp")
}

/// A GET with the token, through the tests' bearer client.
async fn get(base: &str, token: &str, path: &str) -> (StatusCode, Value) {
    Bearer::new(base, token)
        .json(reqwest::Method::GET, path, None)
        .await
}

/// Every user name of a list, page by page, `between` run after the first.
async fn all_pages(
    base: &str,
    token: &str,
    path: &str,
    between: impl AsyncFnOnce(),
) -> Vec<String> {
    let mut names = Vec::new();
    let mut after: Option<String> = None;
    let mut between = Some(between);
    loop {
        let cursor = after
            .as_ref()
            .map(|a| format!("&after={a}"))
            .unwrap_or_default();
        let (status, page) = get(base, token, &format!("{path}{cursor}")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        names.extend(
            page["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["username"].as_str().unwrap().to_owned()),
        );
        if let Some(between) = between.take() {
            between().await;
        }
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return names,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_reader_pages_users_without_repeats_or_gaps_while_a_sync_writes() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let corp = common::probe_integration(
        &store,
        &IntegrationFields::new("Corp AD", serde_json::Map::new()),
    )
    .await;
    let first: Vec<Record> = (1..=25)
        .map(|i| user(&format!("u{i:02}"), i % 5 != 0))
        .collect();
    store.apply_page(corp, None, &first, None).await.unwrap();
    let reader = token_of(&store, "admin", "reader", &[Scope::DirectoryRead], 10_000).await;

    // Between the first page and the second, a sync deletes a user the first
    // page had and adds two: the rest come once each.
    let sync_store = store.clone();
    let names = all_pages(
        &base,
        &reader,
        "/api/v1/directory/users?limit=10",
        async move || {
            let mut gone = user("u03", true);
            gone.deleted = true;
            let page = vec![gone, user("u26", true), user("u27", true)];
            sync_store
                .apply_page(corp, None, &page, None)
                .await
                .unwrap();
        },
    )
    .await;
    let unique: BTreeSet<_> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "no user twice: {names:?}");
    let expected: BTreeSet<String> = (1..=27).map(|i| format!("u{i:02}")).collect();
    assert_eq!(
        unique.into_iter().cloned().collect::<BTreeSet<_>>(),
        expected,
        "none skipped"
    );

    // Filters.
    let (_, disabled) = get(&base, &reader, "/api/v1/directory/users?enabled=false").await;
    let disabled: Vec<_> = disabled["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].clone())
        .collect();
    assert_eq!(
        disabled,
        [
            json!("u05"),
            json!("u10"),
            json!("u15"),
            json!("u20"),
            json!("u25")
        ]
    );
    let (_, found) = get(&base, &reader, "/api/v1/directory/users?q=U26").await;
    assert_eq!(found["users"].as_array().unwrap().len(), 1);
    assert_eq!(found["users"][0]["email"], "u26@corp.example");
    let (_, other) = get(
        &base,
        &reader,
        &format!("/api/v1/directory/users?integration={}", corp + 1),
    )
    .await;
    assert_eq!(other["users"], json!([]));
    let future = cube_host::store::now_millis() + 60_000;
    let (_, none_since) = get(
        &base,
        &reader,
        &format!("/api/v1/directory/users?updated_since={future}"),
    )
    .await;
    assert_eq!(none_since["users"], json!([]));
    let (_, all_since) = get(
        &base,
        &reader,
        "/api/v1/directory/users?updated_since=2020-01-01T00:00:00Z&limit=1000",
    )
    .await;
    assert_eq!(all_since["users"].as_array().unwrap().len(), 26);
    assert_eq!(all_since["next"], Value::Null);

    // Bad input is a 400 that says what is wrong.
    for (query, says) in [
        ("limit=0", "limit"),
        ("after=abc", "cursor"),
        ("updated_since=yesterday", "updated_since"),
        ("colour=blue", "colour"),
    ] {
        let (status, body) = get(&base, &reader, &format!("/api/v1/directory/users?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(says),
            "{query}: {body}"
        );
    }

    // Only `directory:read` (or a session) reads the directory.
    let reader_of_the_rest = token_of(&store, "admin", "plain", &[Scope::Read], 10_000).await;
    let (status, body) = get(&base, &reader_of_the_rest, "/api/v1/directory/users").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_members_and_memberships_direct_and_effective() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let corp = common::probe_integration(
        &store,
        &IntegrationFields::new("Corp AD", serde_json::Map::new()),
    )
    .await;
    // staff holds engineers (a group) and linus; engineers holds ada and grace.
    let page = vec![
        group("staff", &[group_dn("engineers"), dn("linus")]),
        group("engineers", &[dn("ada"), dn("grace")]),
        user("ada", true),
        user("grace", true),
        user("linus", false),
    ];
    store.apply_page(corp, None, &page, None).await.unwrap();
    store.rebuild_memberships(corp).await.unwrap();
    let reader = token_of(&store, "admin", "reader", &[Scope::DirectoryRead], 10_000).await;

    let (_, groups) = get(&base, &reader, "/api/v1/directory/groups?q=staff").await;
    let staff = &groups["groups"][0];
    assert_eq!(staff["name"], "staff");
    assert_eq!(staff["direct_members"], 2);
    assert_eq!(staff["all_members"], 4);
    let staff_id = staff["id"].as_i64().unwrap();

    let names = |body: &Value, list: &str| -> Vec<String> {
        body[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, direct) = get(
        &base,
        &reader,
        &format!("/api/v1/directory/groups/{staff_id}/members"),
    )
    .await;
    assert_eq!(names(&direct, "members"), ["engineers", "linus"]);
    assert_eq!(direct["members"][0]["kind"], "group");
    assert_eq!(direct["members"][1]["enabled"], false);
    // Effective members, two a page: the cursor carries on.
    let path = format!("/api/v1/directory/groups/{staff_id}/members?effective=true&limit=2");
    let (_, first) = get(&base, &reader, &path).await;
    let next = first["next"].as_str().unwrap().to_owned();
    let (_, second) = get(&base, &reader, &format!("{path}&after={next}")).await;
    let mut all = names(&first, "members");
    all.extend(names(&second, "members"));
    all.sort();
    assert_eq!(all, ["ada", "engineers", "grace", "linus"]);
    assert!(
        second["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["direct"] == false)
    );

    // A user's groups, and the user by id with them.
    let ada_id = second["members"]
        .as_array()
        .unwrap()
        .iter()
        .chain(first["members"].as_array().unwrap())
        .find(|m| m["name"] == "ada")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (_, ada) = get(&base, &reader, &format!("/api/v1/directory/users/{ada_id}")).await;
    assert_eq!(ada["username"], "ada");
    assert_eq!(ada["integration_name"], "Corp AD");
    assert_eq!(names(&ada, "groups"), ["engineers"]);
    let (_, effective) = get(
        &base,
        &reader,
        &format!("/api/v1/directory/users/{ada_id}/groups?effective=true"),
    )
    .await;
    let mut groups = names(&effective, "groups");
    groups.sort();
    assert_eq!(groups, ["engineers", "staff"]);
    let (status, _) = get(&base, &reader, "/api/v1/directory/users/999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A signed-in viewer reads it too, with the session.
    let viewer = common::client::Api::sign_in(&base, "vera", common::VIEWER_PASSWORD).await;
    let (status, body) = viewer
        .get(&format!("/api/v1/directory/groups/{staff_id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "staff");
}
