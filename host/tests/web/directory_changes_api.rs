//! The change feed over real HTTP (`/api/v1/directory/changes`), read by a
//! service account's token made on the admin pages: the head, the changes
//! after it page by page with `next` and `more`, clear 400s for a forged
//! cursor, 403 without `directory:read`, and 410
//! `resync_required` once retention has pruned past a cursor.

use cube_test_support as common;

use common::api_tokens::token_of;

use cube_host::runtime::types::Record;
use cube_host::store::api_tokens::Scope;
use cube_host::store::integrations::IntegrationFields;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::api_tokens::{input_value_by_id, make_token};
use common::ADMIN_PASSWORD;
use common::client::{Bearer, Browser};

/// A GET with the token, through the tests' bearer client.
async fn get(base: &str, token: &str, path: &str) -> (StatusCode, Value) {
    Bearer::new(base, token)
        .json(reqwest::Method::GET, path, None)
        .await
}

fn user(id: &str, enabled: bool, version: &str) -> Record {
    common::record(
        "user",
        id,
        json!({"username": id, "enabled": enabled}),
        version,
    )
}

/// A `directory:read` token of the service account "cube-core", made on
/// the admin pages.
async fn service_account_token(base: &str) -> String {
    let mut browser = Browser::new(base);
    browser.sign_in("admin", ADMIN_PASSWORD).await;
    let csrf = browser.csrf().await;
    let added = browser
        .post(
            "/admin/service-accounts",
            &[("csrf_token", csrf.as_str()), ("name", "cube-core")],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    let accounts = browser.get("/admin/tokens").await;
    let owner = accounts
        .body
        .split("value=\"service-account:")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the service account is offered as an owner");
    let made = make_token(
        &mut browser,
        &[
            ("name", "feed"),
            ("owner", &format!("service-account:{owner}")),
            ("scope_directory_read", "on"),
            ("expires", "never"),
            ("requests_per_minute", "600"),
        ],
    )
    .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    input_value_by_id(&made.body, "new-token")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_account_follows_the_feed_page_by_page() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let token = service_account_token(&base).await;
    let (status, head) = get(&base, &token, "/api/v1/directory/changes/head").await;
    assert_eq!(status, StatusCode::OK, "{head}");
    let head = head["cursor"].as_str().unwrap().to_owned();

    let id = common::probe_integration(
        &store,
        &IntegrationFields::new("Directory", Default::default()),
    )
    .await;
    let users: Vec<Record> = (0..5).map(|n| user(&format!("u{n}"), true, "1")).collect();
    store.apply_page(id, None, &users, None).await.unwrap();

    // Two at a time: full pages say there is more.
    let mut cursor = head.clone();
    let mut names = Vec::new();
    loop {
        let (status, page) = get(
            &base,
            &token,
            &format!("/api/v1/directory/changes?after={cursor}&limit=2"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for change in page["changes"].as_array().unwrap() {
            assert_eq!(change["type"], "user.created");
            assert_eq!(change["integration_id"], id);
            names.push(
                change["user"]["current"]["username"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        let next = page["next"].as_str().unwrap().to_owned();
        let more = page["more"].as_bool().unwrap();
        assert_eq!(more, page["changes"].as_array().unwrap().len() == 2);
        if page["changes"].as_array().unwrap().is_empty() {
            assert_eq!(next, cursor, "an empty page keeps the cursor");
            break;
        }
        cursor = next;
    }
    assert_eq!(names, ["u0", "u1", "u2", "u3", "u4"]);

    // Then only what happens next.
    store
        .apply_page(id, None, &[user("u3", false, "2")], None)
        .await
        .unwrap();
    let (_, page) = get(
        &base,
        &token,
        &format!("/api/v1/directory/changes?after={cursor}"),
    )
    .await;
    let changes = page["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{page}");
    assert_eq!(changes[0]["type"], "user.disabled");
    assert_eq!(changes[0]["user"]["external_id"], "u3");
    assert_eq!(page["more"], false);

    // Retention prunes everything: an old cursor must start over, the
    // newest one goes on.
    let latest = page["next"].as_str().unwrap().to_owned();
    store
        .prune_directory_changes(cube_host::store::now_millis() + 1, 100)
        .await
        .unwrap();
    let (status, gone) = get(
        &base,
        &token,
        &format!("/api/v1/directory/changes?after={head}"),
    )
    .await;
    assert_eq!(status, StatusCode::GONE, "{gone}");
    assert_eq!(gone["error"]["code"], "resync_required");
    assert!(
        gone["error"]["message"]
            .as_str()
            .unwrap()
            .contains("read the directory in full again")
    );
    let (status, page) = get(
        &base,
        &token,
        &format!("/api/v1/directory/changes?after={latest}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["changes"], json!([]));
    let (_, head) = get(&base, &token, "/api/v1/directory/changes/head").await;
    assert_eq!(head["cursor"], latest.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_refuses_what_it_cannot_answer() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let reader = token_of(&store, "admin", "dir", &[Scope::DirectoryRead], 600).await;
    for (path, says) in [
        ("/api/v1/directory/changes?after=12", "after is a cursor"),
        ("/api/v1/directory/changes?after=a.b", "after is a cursor"),
        (
            "/api/v1/directory/changes?after=0.0&limit=0",
            "limit is 1 to",
        ),
        (
            "/api/v1/directory/changes?after=0.0&since=1",
            "unknown field",
        ),
    ] {
        let (status, body) = get(&base, &reader, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(says),
            "{path}: {body}"
        );
    }
    let plain = token_of(&store, "admin", "plain", &[Scope::Read], 600).await;
    for path in [
        "/api/v1/directory/changes?after=0.0",
        "/api/v1/directory/changes/head",
    ] {
        let (status, body) = get(&base, &plain, path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["error"]["code"], "insufficient_scope");
    }
    let (status, _) = get(&base, "cube_not-a-token", "/api/v1/directory/changes/head").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// Two host nodes on one PostgreSQL, writers on both, and a consumer that
/// asks either in turn: it reads every change once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_postgresql_serve_one_feed() {
    use cube_host::store::Store;
    let url = common::postgres_database().await;
    let stores = [
        Store::connect(&url).await.unwrap(),
        Store::connect(&url).await.unwrap(),
    ];
    let catalog = common::probe_catalog().await;
    let bases = [
        common::serve_admin_app_on(catalog.clone(), stores[0].clone()).await,
        common::serve_admin_app_on(catalog, stores[1].clone()).await,
    ];
    let token = token_of(
        &stores[0],
        "admin",
        "feed",
        &[Scope::DirectoryRead],
        100_000,
    )
    .await;
    let (_, head) = get(&bases[1], &token, "/api/v1/directory/changes/head").await;
    let mut cursor = head["cursor"].as_str().unwrap().to_owned();
    let integrations = [
        common::probe_integration(
            &stores[0],
            &IntegrationFields::new("One", Default::default()),
        )
        .await,
        common::probe_integration(
            &stores[1],
            &IntegrationFields::new("Two", Default::default()),
        )
        .await,
    ];
    const PAGES: usize = 10;
    const PER_PAGE: usize = 20;
    let writers: Vec<_> = (0..2)
        .map(|n| {
            let (store, id) = (stores[n].clone(), integrations[n]);
            tokio::spawn(async move {
                for page in 0..PAGES {
                    let users: Vec<Record> = (0..PER_PAGE)
                        .map(|u| user(&format!("n{n}-p{page}-u{u}"), true, "1"))
                        .collect();
                    store.apply_page(id, None, &users, None).await.unwrap();
                }
            })
        })
        .collect();
    let expected = 2 * PAGES * PER_PAGE;
    let mut seen: Vec<String> = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    for turn in 0.. {
        if seen.len() >= expected {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "read {} of {expected}",
            seen.len()
        );
        let (status, page) = get(
            &bases[turn % 2],
            &token,
            &format!("/api/v1/directory/changes?after={cursor}&limit=33"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for change in page["changes"].as_array().unwrap() {
            seen.push(change["user"]["external_id"].as_str().unwrap().to_owned());
        }
        cursor = page["next"].as_str().unwrap().to_owned();
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), expected, "every change once");
    assert_eq!(seen.len(), expected, "and none twice");
}
