//! The full-sync schedule beside the incremental one, over real HTTP: set,
//! checked and shown through the JSON API and the edit page, with the
//! default a directory connector gets and the probe (an HTTP connector)
//! does not.

use cube_test_support as common;

use reqwest::StatusCode;
use serde_json::{Value, json};

use common::ADMIN_PASSWORD;
use common::client::Api;
use common::web_forms::assert_contains;

/// A catalog with the probe and the Active Directory connector.
async fn catalog() -> cube_host::web::Catalog {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("probe.wasm"), common::probe_wasm()).unwrap();
    std::fs::write(
        dir.path().join("active-directory.wasm"),
        common::plugin_wasm("active-directory"),
    )
    .unwrap();
    let catalog = cube_host::web::Catalog::new();
    catalog
        .clone()
        .load_dirs(common::runtime(), vec![dir.path().to_path_buf()])
        .await;
    catalog
}

fn directory_input(extra: Value) -> Value {
    let mut input = json!({
        "name": "Corp directory", "connector": "active-directory",
        "config": {"server": "dc1.corp.example", "tls": "ldaps", "bind_dn": "CN=sync,DC=corp",
                   "password": "pw", "base_dn": "DC=corp"},
        "ldap_grants": ["ldaps://dc1.corp.example"],
    });
    for (key, value) in extra.as_object().unwrap() {
        input[key] = value.clone();
    }
    input
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_sets_checks_and_shows_the_full_sync_schedule() {
    let (base, _store, _dir) = common::serve_admin_app(catalog().await).await;
    let api = Api::sign_in(&base, "admin", ADMIN_PASSWORD).await;

    // A directory integration gets a daily full sync unless told otherwise;
    // the probe (HTTP only) keeps syncing as it did: no full schedule.
    let (status, directory) = api
        .post("/api/v1/integrations", Some(directory_input(json!({}))))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{directory}");
    assert_eq!(directory["full_sync_interval_secs"], 86_400);
    let now = cube_host::store::now_millis();
    let next = directory["next_syncs"]["full"].as_i64().unwrap();
    assert!(
        next > now + 86_000_000 && next <= now + 86_400_000,
        "{directory}"
    );
    assert_eq!(directory["next_syncs"]["incremental"], Value::Null);
    let (status, probe) = api
        .post(
            "/api/v1/integrations",
            Some(
                json!({"name": "Probe", "connector": "probe", "config": {"action": "ok"},
                        "sync_interval_minutes": 5}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{probe}");
    assert_eq!(probe["full_sync_interval_secs"], Value::Null);
    assert_eq!(probe["full_sync_cron"], Value::Null);
    assert_eq!(probe["next_syncs"]["full"], Value::Null);
    assert_eq!(probe["next_syncs"]["incremental"], "due");

    let path = format!("/api/v1/integrations/{}", directory["id"]);
    // Left out on replace: the schedule stays.
    let (status, kept) = api
        .put(&path, directory_input(json!({"sync_interval_minutes": 15})))
        .await;
    assert_eq!(status, StatusCode::OK, "{kept}");
    assert_eq!(kept["full_sync_interval_secs"], 86_400);
    assert_eq!(kept["next_syncs"]["full"], directory["next_syncs"]["full"]);
    // A cron expression replaces the interval.
    let (status, nightly) = api
        .put(
            &path,
            directory_input(json!({"full_sync_cron": "0 3 * * *"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{nightly}");
    assert_eq!(nightly["full_sync_interval_secs"], Value::Null);
    assert_eq!(nightly["full_sync_cron"], "0 3 * * *");
    let next = nightly["next_syncs"]["full"].as_i64().unwrap();
    assert_eq!(next % 86_400_000, 3 * 3_600_000, "{nightly}");

    // Mistakes are named by field, and nothing changes.
    for (input, field, says) in [
        (
            json!({"full_sync_interval_minutes": 0}),
            "full_sync_interval_minutes",
            "whole minutes",
        ),
        (
            json!({"full_sync_interval_minutes": 50_000}),
            "full_sync_interval_minutes",
            "44640",
        ),
        (
            json!({"full_sync_cron": "every night"}),
            "full_sync_cron",
            "cron",
        ),
        (
            json!({"full_sync_interval_minutes": 60, "full_sync_cron": "0 3 * * *"}),
            "full_sync_cron",
            "not both",
        ),
    ] {
        let (status, body) = api.put(&path, directory_input(input)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let message = body["error"]["fields"][field].as_str().unwrap_or_default();
        assert!(message.contains(says), "{field}: {body}");
    }
    let (_, unchanged) = api.get(&path).await;
    assert_eq!(unchanged["full_sync_cron"], "0 3 * * *");

    // `null` switches scheduled full syncs off.
    let (status, off) = api
        .put(
            &path,
            directory_input(json!({"full_sync_interval_minutes": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{off}");
    assert_eq!(off["full_sync_interval_secs"], Value::Null);
    assert_eq!(off["full_sync_cron"], Value::Null);
    assert_eq!(off["next_syncs"]["full"], Value::Null);
    // And an interval switches them on again, on create too.
    let (status, hourly) = api
        .post(
            "/api/v1/integrations",
            Some(directory_input(
                json!({"name": "Second directory", "full_sync_interval_minutes": 60}),
            )),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hourly}");
    assert_eq!(hourly["full_sync_interval_secs"], 3600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edit_page_keeps_a_half_filled_full_sync_schedule_and_says_what_to_fix() {
    let (base, store, _dir) = common::serve_admin_app(catalog().await).await;
    let (mut browser, csrf) = common::sign_in_admin(&base).await;

    // A new directory integration's form offers a daily full sync.
    let new = browser
        .get("/integrations/create?connector=active-directory")
        .await;
    assert_eq!(new.status, StatusCode::OK);
    assert_contains(
        &new.body,
        "name=\"full_sync_interval_minutes\" value=\"1440\"",
    );

    let id =
        common::create_probe_integration(&mut browser, &csrf, "Probe", "ok", "http://127.0.0.1:1/")
            .await;
    let edit = format!("/integrations/{id}/edit");
    let page = browser.get(&edit).await;
    assert!(
        page.body
            .contains("name=\"full_sync_interval_minutes\" value=\"\""),
        "the probe has no full schedule: {}",
        page.body
    );
    let submit = |interval: &'static str, cron: &'static str| {
        vec![
            ("csrf_token", csrf.clone()),
            ("name", "Probe".to_owned()),
            ("cfg.action", "ok".to_owned()),
            ("cfg.url", "http://127.0.0.1:1/".to_owned()),
            ("cfg.pages", "3".to_owned()),
            ("http_grants", "http://127.0.0.1:*".to_owned()),
            ("sync_interval_minutes", "30".to_owned()),
            ("full_sync_interval_minutes", interval.to_owned()),
            ("full_sync_cron", cron.to_owned()),
        ]
    };

    // Both an interval and a cron expression: which to keep, everything kept.
    let refused = browser.post_owned(&edit, &submit("90", "0 3 * * *")).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_contains(
        &refused.body,
        "Choose an interval or a cron expression for full syncs, not both.",
    );
    assert!(
        refused
            .body
            .contains("name=\"full_sync_interval_minutes\" value=\"90\"")
    );
    assert!(
        refused
            .body
            .contains("name=\"full_sync_cron\" value=\"0 3 * * *\"")
    );
    assert!(
        refused
            .body
            .contains("name=\"sync_interval_minutes\" value=\"30\"")
    );
    // Not a number of minutes.
    let refused = browser.post_owned(&edit, &submit("ten", "")).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_contains(&refused.body, "Enter whole minutes from 1 to 44640");
    assert!(
        refused
            .body
            .contains("name=\"full_sync_interval_minutes\" value=\"ten\"")
    );
    // Nothing was saved.
    let stored = store.integration(id).await.unwrap().unwrap();
    assert_eq!(stored.full_sync_interval_secs, None);
    assert_eq!(stored.sync_interval_secs, None);

    let saved = browser.post_owned(&edit, &submit("720", "")).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let stored = store.integration(id).await.unwrap().unwrap();
    assert_eq!(stored.full_sync_interval_secs, Some(720 * 60));
    assert_eq!(stored.sync_interval_secs, Some(30 * 60));
    // The page says what runs when.
    let detail = browser.get(&format!("/integrations/{id}")).await;
    let full = common::element_text(&detail.body, "schedule-full");
    assert!(full.starts_with("every 720 minutes, next"), "{full}");
    let incremental = common::element_text(&detail.body, "schedule-incremental");
    assert_eq!(incremental, "every 30 minutes, due now");
    // The edit page shows what is stored.
    let page = browser.get(&edit).await;
    assert!(
        page.body
            .contains("name=\"full_sync_interval_minutes\" value=\"720\"")
    );
}
