//! The marketplace's life after an install, through the API: an upgrade
//! that asks for more refused until approved, rolling back, and
//! uninstalling (refused while used, unless the integrations are disabled).
//! Real packages, built and signed with the core API; admins only, CSRF
//! checked, every change audited.

use cube_test_support as common;

use reqwest::{Method, StatusCode};
use serde_json::json;

use common::client::Api;
use common::marketplace::installed_dir;
use common::marketplace_ui::{
    Market, audited, create_jira_integration, current, forged_admin_api, install_through_the_api,
    integration, market,
};
use common::{ADMIN_PASSWORD, VIEWER_PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_approves_upgrades_rolls_back_and_uninstalls() {
    let market = market().await;
    let Market {
        base, store, data, ..
    } = &market;
    let api = Api::sign_in(base, "admin", ADMIN_PASSWORD).await;
    let viewer = Api::sign_in(base, "vera", VIEWER_PASSWORD).await;
    let forged = forged_admin_api(base).await;
    let install = async |client: &Api, version: &str, approve: bool| {
        install_through_the_api(
            client,
            json!({"id": "jira", "version": version, "approve_capabilities": approve}),
        )
        .await
    };
    let (status, body) = install(&api, "0.1.0", false).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (id, grants) = create_jira_integration(&api, "Jira Cloud").await;

    // The listing says what 0.2.0 asks for anew.
    let (_, body) = viewer.json(Method::GET, "/api/v1/marketplace", None).await;
    let upgrade = body["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["version"] == "0.2.0")
        .unwrap();
    assert_eq!(
        upgrade["new_capabilities"],
        json!(["Connects to any HTTPS server you grant it (`https://*`)"])
    );

    // Without approval: 422 with what is new.
    let (status, body) = install(&api, "0.2.0", false).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "refused");
    assert_eq!(body["error"]["installed_version"], "0.1.0");
    assert_eq!(
        body["error"]["new_capabilities"],
        json!(["Connects to any HTTPS server you grant it (`https://*`)"])
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"approve_capabilities\": true"),
        "{body}"
    );
    assert_eq!(current(data, "jira"), "0.1.0");
    for client in [&viewer, &forged] {
        let (status, _) = install(client, "0.2.0", true).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }

    // Approved.
    let (status, body) = install(&api, "0.2.0", true).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["previous_version"], "0.1.0");
    assert_eq!(body["loaded"], true);
    assert_eq!(current(data, "jira"), "0.2.0");
    let entry = audited(store, "marketplace.install")
        .await
        .into_iter()
        .find(|e| e.after.as_ref().unwrap()["version"] == "0.2.0")
        .unwrap();
    let after = entry.after.unwrap();
    assert_eq!(after["approved_capabilities"]["http"], json!(["https://*"]));
    assert_eq!(after["via"], "api");

    // The installed list.
    let (status, body) = viewer
        .json(Method::GET, "/api/v1/marketplace/installed", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let jira = &body["connectors"][0];
    assert_eq!(jira["id"], "jira");
    assert_eq!(jira["version"], "0.2.0");
    assert_eq!(jira["other_versions"], json!(["0.1.0"]));
    assert_eq!(jira["rollback_to"], "0.1.0");
    assert_eq!(jira["publisher"], "acme");
    assert_eq!(jira["trust"], "trusted");
    assert_eq!(jira["used_by"], json!(["Jira Cloud"]));
    assert_eq!(jira["loaded_version"], "0.2.0");

    // Roll back.
    let rollback = "/api/v1/marketplace/installed/jira/rollback";
    for client in [&viewer, &forged] {
        let (status, _) = client.json(Method::POST, rollback, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, body) = api.json(Method::POST, rollback, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["from"], &body["to"], &body["loaded"]),
        (&json!("0.2.0"), &json!("0.1.0"), &json!(true))
    );
    let (_, connectors) = api.json(Method::GET, "/api/v1/connectors", None).await;
    assert_eq!(
        connectors["connectors"][0]["version"], "0.1.0",
        "{connectors}"
    );
    let (status, body) = api.json(Method::POST, rollback, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "refused");
    assert_eq!(integration(&api, id).await["http_grants"], grants);
    let entry = &audited(store, "marketplace.rollback").await[0];
    assert_eq!(entry.after.as_ref().unwrap()["via"], "api");

    // Uninstall: refused while used (409, naming it), then with the
    // integrations disabled (body or query).
    let path = "/api/v1/marketplace/installed/jira";
    for client in [&viewer, &forged] {
        let (status, _) = client
            .json(
                Method::DELETE,
                &format!("{path}?disable_integrations=true"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, body) = api.json(Method::DELETE, path, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    assert_eq!(body["error"]["integrations"], json!(["Jira Cloud"]));
    let (status, body) = api
        .json(
            Method::DELETE,
            path,
            Some(json!({"disable_integrations": false})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(installed_dir(data, "jira").is_dir());
    let (status, body) = api
        .json(
            Method::DELETE,
            &format!("{path}?disable_integrations=true"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["versions"], json!(["0.1.0", "0.2.0"]));
    assert_eq!(body["disabled_integrations"], json!(["Jira Cloud"]));
    assert_eq!(body["unloaded"], true);
    assert!(!installed_dir(data, "jira").exists());
    assert_eq!(integration(&api, id).await["enabled"], false);
    let (_, connectors) = api.json(Method::GET, "/api/v1/connectors", None).await;
    assert_eq!(connectors["connectors"], json!([]));
    let (status, _) = api
        .json(
            Method::DELETE,
            path,
            Some(json!({"disable_integrations": true})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(audited(store, "marketplace.uninstall").await.len(), 1);
}
