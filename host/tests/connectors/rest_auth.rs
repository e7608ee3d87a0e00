//! The generic REST connector in the real host against a local API that
//! checks each authentication style: basic, bearer, API key in a header or
//! the query, and OAuth2 client credentials with tokens that run out. The
//! fake API is `common::rest_api`.

use cube_test_support as common;

use common::connector_setup::with_overrides;
use common::rest_api::{
    CLIENT_ID, CLIENT_SECRET, FakeApi, KEY, PASSWORD, Scheme, TOKEN, USER, app, paged,
};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_auth_style_is_sent_as_the_api_expects() {
    let app = app().await;
    let cases = [
        (
            Scheme::Basic,
            json!({"auth": "basic", "username": USER, "password": PASSWORD}),
        ),
        (Scheme::Bearer, json!({"auth": "bearer", "token": TOKEN})),
        (
            Scheme::KeyHeader,
            json!({"auth": "api-key", "api_key_name": "X-API-Key", "api_key_in": "header", "api_key": KEY}),
        ),
        (
            Scheme::KeyQuery,
            json!({"auth": "api-key", "api_key_name": "api_key", "api_key_in": "query", "api_key": KEY}),
        ),
    ];
    for (auth, credentials) in cases {
        let fake = FakeApi::start(auth).await;
        fake.add_items(30);
        let mut config = with_overrides(paged("/page/items"), &credentials);
        config["probe_path"] = json!("/me");
        let id = app.integration(&format!("{auth:?}"), &fake, config).await;
        let verdict = app.test_connection(id).await;
        assert_eq!(verdict["ok"], true, "{auth:?}: {verdict}");
        assert!(
            verdict.to_string().contains("the first page of"),
            "{verdict}"
        );
        let log = app.sync(id, true).await;
        assert_eq!(log["status"], "succeeded", "{auth:?}: {log}");
        assert_eq!(log["counts"]["created"], 30, "{auth:?}: {log}");
        assert!(
            fake.requests().iter().all(|r| r.status == 200),
            "{auth:?}: {:?}",
            fake.requests()
        );
    }

    // Wrong credentials are refused, named, and no secret shows.
    let fake = FakeApi::start(Scheme::Bearer).await;
    let mut config = paged("/page/items");
    config["auth"] = json!("bearer");
    config["token"] = json!("not-the-token");
    let id = app.integration("wrong", &fake, config).await;
    let verdict = app.assert_connection_test(id, false).await;
    assert!(verdict.to_string().contains("401"), "{verdict}");
    let log = app.sync(id, true).await;
    assert_eq!(log["status"], "failed", "{log}");
    assert!(log.to_string().contains("401"), "{log}");
    assert!(!log.to_string().contains("not-the-token"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_oauth_token_is_refreshed_after_a_401() {
    let app = app().await;
    let fake = FakeApi::start(Scheme::OAuth).await;
    fake.add_items(50);
    let config = with_overrides(
        paged("/page/items"),
        &json!({"auth": "oauth2-client-credentials", "token_url": "/oauth/token",
                "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                "scope": "items:read items:write"}),
    );
    let id = app.integration("OAuth", &fake, config).await;
    let log = app.sync(id, true).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(log["counts"]["created"], 50, "{log}");
    assert_eq!(fake.st().tokens_issued, 1, "one token for every page");
    let log = app.sync(id, false).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(
        fake.st().tokens_issued,
        1,
        "the token is kept between calls"
    );

    // The API drops the token: the next request is refused, a new token is
    // fetched and the request repeated.
    fake.st().valid_tokens.clear();
    fake.edit(7, "Changed after the token expired");
    let log = app.sync(id, false).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(log["counts"]["updated"], 1, "{log}");
    assert_eq!(fake.st().tokens_issued, 2);
    assert_eq!(
        fake.requests().iter().filter(|r| r.status == 401).count(),
        1
    );
    let grants = fake.requests_to("/oauth/token");
    assert!(
        grants
            .iter()
            .all(|g| g.body.contains("grant_type=client_credentials")),
        "{grants:?}"
    );
}
