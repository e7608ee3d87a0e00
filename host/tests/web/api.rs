//! The JSON API over real HTTP: session auth with a CSRF header, field
//! errors, secrets accepted and never returned, syncs queued and logged.

use cube_test_support as common;

use reqwest::StatusCode;
use serde_json::{Value, json};

use common::client::Api;
use common::web_forms::assert_contains;
use common::{ADMIN_PASSWORD, VIEWER_PASSWORD};

const SECRET: &str = "api-secret-Token-99";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integrations_are_managed_through_the_api_without_secrets_coming_back() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let anonymous = reqwest::get(format!("{base}/api/v1/integrations"))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let body: Value = serde_json::from_str(&anonymous.text().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");

    let api = Api::sign_in(&base, "admin", ADMIN_PASSWORD).await;
    let (_, connectors) = api.get("/api/v1/connectors").await;
    assert_eq!(connectors["connectors"][0]["id"], "probe");
    assert_eq!(
        connectors["connectors"][0]["config_schema"]["properties"]["password"]["writeOnly"],
        true
    );

    let forged = Api {
        csrf: "forged".into(),
        ..Api::sign_in(&base, "admin", ADMIN_PASSWORD).await
    };
    let (status, body) = forged
        .post(
            "/api/v1/integrations",
            Some(json!({"name": "x", "connector": "probe"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("csrf"))
    );

    let (status, body) = api
        .post("/api/v1/integrations", Some(json!({"name": "", "connector": "probe", "config": {"url": "nope", "pages": 5000, "action": "ok"}})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["fields"]["pages"], "Enter 1000 or less.");
    assert!(
        body["error"]["fields"]["url"]
            .as_str()
            .unwrap()
            .contains("full URL")
    );
    assert!(body["error"]["fields"]["name"].is_string());
    let (status, body) = api
        .post(
            "/api/v1/integrations",
            Some(json!({"name": "x", "connector": "nope"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["fields"]["connector"].is_string());

    let peer = common::http_answering("api peer").await;
    let create = json!({"name": "API probe", "connector": "probe",
        "config": {"action": "fetch", "url": peer, "password": SECRET, "pages": 2},
        "http_grants": ["http://127.0.0.1:*"], "allow_private": true});
    let (status, text) = api
        .call(
            reqwest::Method::POST,
            "/api/v1/integrations",
            Some(create.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    assert!(!text.contains(SECRET), "{text}");
    let created: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(created["secrets_set"], json!(["password"]));
    assert_eq!(created["config"]["url"], json!(peer));
    let id = created["id"].as_i64().unwrap();
    let (status, _) = api.post("/api/v1/integrations", Some(create)).await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (status, verdict) = api
        .post(&format!("/api/v1/integrations/{id}/test"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert!(verdict["detail"].as_str().unwrap().contains("api peer"));

    let job = api.full_sync(&store, id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let (_, logs) = api
        .get(&format!(
            "/api/v1/sync-logs?integration={id}&operation=sync"
        ))
        .await;
    assert_eq!(logs["total"], 1);
    assert_eq!(logs["sync_logs"][0]["counts"]["created"], 4);
    let (status, _) = api.get("/api/v1/sync-logs?status=weird").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Replacing without the secret keeps it; the response never shows it.
    let (status, text) = api
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/integrations/{id}"),
            Some(json!({"name": "API probe 2", "config": {"action": "leak"}, "enabled": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(!text.contains(SECRET));
    let stored = store.integration(id).await.unwrap().unwrap();
    assert!(stored.sealed_secrets.contains_key("password") && !stored.enabled);
    let (status, _) = api
        .post(&format!("/api/v1/integrations/{id}/sync"), None)
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a disabled integration does not sync"
    );
    let (_, verdict) = api
        .post(&format!("/api/v1/integrations/{id}/test"), None)
        .await;
    assert_eq!(verdict["headline"], "The credentials were refused");
    assert!(!verdict.to_string().contains(SECRET));

    let viewer = Api::sign_in(&base, "vera", VIEWER_PASSWORD).await;
    let (status, list) = viewer.get("/api/v1/integrations").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["integrations"][0]["name"], "API probe 2");
    assert!(!list.to_string().contains(SECRET));
    let (status, body) = viewer
        .json(
            reqwest::Method::DELETE,
            &format!("/api/v1/integrations/{id}"),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );

    let status = api.delete(&format!("/api/v1/integrations/{id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api.get(&format!("/api/v1/integrations/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Schedules: an interval or a cron expression, checked.
    for (input, says) in [
        (
            json!({"name": "Cron", "connector": "probe", "config": {"action": "ok"}, "sync_cron": "every night"}),
            "cron",
        ),
        (
            json!({"name": "Cron", "connector": "probe", "config": {"action": "ok"},
                    "sync_cron": "*/15 * * * *", "sync_interval_minutes": 5}),
            "not both",
        ),
    ] {
        let (status, body) = api.post("/api/v1/integrations", Some(input)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            body["error"]["fields"]["sync_cron"]
                .as_str()
                .unwrap()
                .contains(says),
            "{body}"
        );
    }
    let (status, body) = api
        .post("/api/v1/integrations", Some(json!({"name": "Cron", "connector": "probe", "config": {"action": "ok"}, "sync_cron": "*/15 * * * *"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["sync_cron"], "*/15 * * * *");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_api_route() {
    let (base, _store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let spec = reqwest::get(format!("{base}/api/v1/openapi.json"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let spec: Value = serde_json::from_str(&spec).unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    let api = Api::sign_in(&base, "admin", ADMIN_PASSWORD).await;
    let paths = spec["paths"].as_object().unwrap();
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            assert!(operation["operationId"].is_string(), "{method} {path}");
            // Every documented GET answers (with a real id where one is needed).
            if method == "get" && !path.contains('{') {
                let (status, _) = api.call(reqwest::Method::GET, path, None).await;
                assert_eq!(status, StatusCode::OK, "GET {path}");
            }
            // Every $ref resolves.
            for reference in find_refs(operation) {
                let name = reference.trim_start_matches("#/components/");
                let (section, key) = name.split_once('/').unwrap();
                assert!(
                    spec["components"][section][key].is_object(),
                    "{reference} in {method} {path}"
                );
            }
        }
    }
    // An undocumented route under /api/v1 answers 404.
    let (status, _) = api
        .call(reqwest::Method::GET, "/api/v1/nothing-here", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

fn find_refs(value: &Value) -> Vec<String> {
    match value {
        Value::Object(map) => map
            .iter()
            .flat_map(|(k, v)| {
                if k == "$ref" {
                    vec![v.as_str().unwrap().to_owned()]
                } else {
                    find_refs(v)
                }
            })
            .collect(),
        Value::Array(items) => items.iter().flat_map(find_refs).collect(),
        _ => Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_endpoints_are_managed_through_the_api_and_their_secret_shown_once() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let api = Api::sign_in(&base, "admin", ADMIN_PASSWORD).await;
    let (_, created) = api
        .post(
            "/api/v1/integrations",
            Some(json!({"name": "Hooks", "connector": "probe", "config": {"action": "ok"}})),
        )
        .await;
    let id = created["id"].as_i64().unwrap();
    let path = format!("/api/v1/integrations/{id}/webhooks");

    let (status, body) = api
        .post(&path, Some(json!({"scheme": "md5", "secret": "short"})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["fields"]["scheme"].is_string()
            && body["error"]["fields"]["secret"].is_string(),
        "{body}"
    );

    let (status, hook) = api
        .post(
            &path,
            Some(json!({"scheme": "cube-hmac-sha256", "description": "ci"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    assert_eq!(
        hook["answer"], "stored",
        "acknowledged once stored, by default"
    );
    let secret = hook["secret"].as_str().unwrap().to_owned();
    let url = hook["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{base}/hooks/")));

    let (_, listed) = api.get(&path).await;
    assert_eq!(listed["webhooks"][0]["url"], json!(url));
    assert!(
        !listed.to_string().contains(&secret),
        "the secret is returned once only"
    );

    let ts = cube_host::store::now_millis() / 1000;
    let payload = r#"{"items": [{"id": "a"}]}"#;
    let delivered = reqwest::Client::new()
        .post(&url)
        .header("x-cube-timestamp", ts.to_string())
        .header(
            "x-cube-signature",
            cube_host::webhooks::signature::sign_cube(
                secret.as_bytes(),
                ts,
                "",
                payload.as_bytes(),
            ),
        )
        .body(payload)
        .send()
        .await
        .unwrap();
    assert_eq!(delivered.status(), StatusCode::ACCEPTED);
    // The worker processes what the intake stored.
    let mut processed = json!(0);
    for _ in 0..200 {
        let (_, listed) = api.get(&path).await;
        processed = listed["webhooks"][0]["deliveries"]["processed"].clone();
        if processed == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(processed, 1, "the stored delivery was processed");
    let webhook = hook["id"].as_i64().unwrap();
    let (status, listed) = api.get(&format!("{path}/{webhook}/deliveries")).await;
    assert_eq!(status, StatusCode::OK);
    let delivery = listed["deliveries"][0]["id"].as_i64().unwrap();
    assert_eq!(listed["deliveries"][0]["replayable"], true, "{listed}");
    let replay = format!("{path}/{webhook}/deliveries/{delivery}/replay");
    let (status, _) = api.call(reqwest::Method::POST, &replay, None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, _) = api
        .call(
            reqwest::Method::POST,
            &format!("{path}/{webhook}/deliveries/999999/replay"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = api
        .post(
            &path,
            Some(json!({"scheme": "cube-hmac-sha256", "answer": "sometimes"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["fields"]["answer"].is_string(), "{body}");

    let viewer = Api::sign_in(&base, "vera", VIEWER_PASSWORD).await;
    let (status, _) = viewer
        .post(&path, Some(json!({"scheme": "slack-v0"})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let status = api.delete(&format!("{path}/{webhook}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(store.webhooks_of(id).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowing_private_addresses_is_per_grant_in_the_api_and_the_editor() {
    let (base, _store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let api = Api::sign_in(&base, "admin", ADMIN_PASSWORD).await;
    // Two servers on this machine, reached by name; only the first grant
    // may reach private addresses.
    let port = |base: &str| base.rsplit(':').next().unwrap().to_owned();
    let intranet = port(&common::http_answering("intranet peer").await);
    let other = port(&common::http_answering("other peer").await);
    let config = |p: &str| json!({"action": "fetch", "url": format!("http://localhost:{p}/"), "password": SECRET});
    let create = json!({"name": "Two grants", "connector": "probe", "config": config(&intranet),
        "http_grants": [{"pattern": format!("http://localhost:{intranet}"), "allow_private": true},
                        format!("http://localhost:{other}")]});
    let (status, created) = api.post("/api/v1/integrations", Some(create)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(
        created["http_grants"],
        json!([{"pattern": format!("http://localhost:{intranet}"), "allow_private": true},
               {"pattern": format!("http://localhost:{other}"), "allow_private": false}])
    );
    let test = || async {
        api.post(&format!("/api/v1/integrations/{id}/test"), None)
            .await
            .1
    };
    let verdict = test().await;
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert!(
        verdict["detail"]
            .as_str()
            .unwrap()
            .contains("intranet peer")
    );

    // The same connector, pointed at the other grant's server: refused.
    let replace = json!({"name": "Two grants", "config": config(&other),
        "http_grants": created["http_grants"]});
    let (status, replaced) = api
        .put(&format!("/api/v1/integrations/{id}"), replace)
        .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    let verdict = test().await;
    assert_eq!(verdict["ok"], false, "{verdict}");
    assert!(
        verdict
            .to_string()
            .contains("resolves to 127.0.0.1 (loopback)"),
        "{verdict}"
    );

    // The editor and the detail page show the flag on its grant only.
    let (mut admin, _) = common::sign_in_admin(&base).await;
    let editor = admin.get(&format!("/integrations/{id}/edit")).await;
    let lines = format!("http://localhost:{intranet} private\nhttp://localhost:{other}<")
        .replace('/', "&#x2f;");
    assert_contains(&editor.body, &lines);
    let detail = admin.get(&format!("/integrations/{id}")).await;
    assert_eq!(
        detail.body.matches("(private addresses allowed)").count(),
        1,
        "{}",
        detail.body
    );
}
