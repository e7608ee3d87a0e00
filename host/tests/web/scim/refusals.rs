//! Strangers and wrong requests get SCIM errors; two clients are kept
//! apart; a disabled client integration reads but does not write.

use cube_test_support as common;

use common::api_tokens::{new_token, token_of};

use cube_host::store::api_tokens::{Scope, TokenFor};
use cube_host::store::users::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{Scim, assert_error, user};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_and_wrong_requests_get_scim_errors_and_clients_are_kept_apart() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let nobody = Scim::new(&base, "");
    let bare = reqwest::Client::new()
        .get(format!("{base}/scim/v2/Users"))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(bare.headers()["content-type"], "application/scim+json");
    assert!(bare.headers().contains_key("www-authenticate"));
    assert_error(&nobody.get("/Users").await, StatusCode::UNAUTHORIZED, None);
    assert_error(
        &Scim::new(&base, "cube_pat_forged").get("/Users").await,
        StatusCode::UNAUTHORIZED,
        None,
    );
    let reader = Scim::new(
        &base,
        &token_of(
            &store,
            "admin",
            "reader",
            &[Scope::Read, Scope::DirectoryRead],
            100,
        )
        .await,
    );
    let refused = reader.get("/Users").await;
    assert_error(&refused, StatusCode::FORBIDDEN, None);
    assert!(
        refused.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("scope=\"scim\"")
    );

    let scim = Scim::new(
        &base,
        &token_of(&store, "admin", "okta", &[Scope::Scim], 100).await,
    );
    let broken = scim
        .call(
            Method::POST,
            "/Users",
            None,
            &[("content-type", "application/scim+json")],
        )
        .await;
    assert_error(&broken, StatusCode::BAD_REQUEST, Some("invalidSyntax"));
    assert_error(
        &scim
            .post("/Users", json!({"name": {"givenName": "No"}}))
            .await,
        StatusCode::BAD_REQUEST,
        Some("invalidValue"),
    );
    assert_error(&scim.get("/Bulk").await, StatusCode::NOT_FOUND, None);
    assert_eq!(
        scim.post("/Users", user("kept", "K", "Apart")).await.status,
        StatusCode::CREATED
    );
    let id = scim.get("/Users").await.body["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_error(
        &scim
            .patch(
                &format!("/Users/{id}"),
                json!([{"op": "replace", "path": "id", "value": "mine"}]),
            )
            .await,
        StatusCode::BAD_REQUEST,
        Some("mutability"),
    );

    // Another owner provisions into an integration of its own and sees
    // nothing of the first one's.
    let ops = store
        .create_user("ops", "ops password 2026!", Role::Admin)
        .await
        .unwrap();
    let account = store
        .create_service_account("entra", "", &ops)
        .await
        .unwrap();
    let (_, secret) = store
        .create_api_token(&new_token(
            "provisioning",
            TokenFor::ServiceAccount(&account),
            &[Scope::Scim],
        ))
        .await
        .unwrap();
    let other = Scim::new(&base, &secret);
    assert_eq!(other.get("/Users").await.body["totalResults"], 0);
    assert_error(
        &other.get(&format!("/Users/{id}")).await,
        StatusCode::NOT_FOUND,
        None,
    );
    assert_error(
        &other
            .call(Method::DELETE, &format!("/Users/{id}"), None, &[])
            .await,
        StatusCode::NOT_FOUND,
        None,
    );

    // A disabled integration answers reads and refuses writes.
    let integrations = store.integrations().await.unwrap();
    let first = integrations
        .iter()
        .find(|i| i.name == "SCIM: admin")
        .expect("made on first use");
    assert_eq!(first.provider_id, "scim");
    store
        .set_integration_enabled(first.id, false, "admin")
        .await
        .unwrap();
    assert_eq!(scim.get("/Users").await.body["totalResults"], 1);
    assert_error(
        &scim.post("/Users", user("late", "L", "Ate")).await,
        StatusCode::FORBIDDEN,
        None,
    );
}
