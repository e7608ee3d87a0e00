//! Trusting a connector publisher in the admin UI and the API: pasting its
//! public key (malformed text and secret keys refused, the secret never
//! repeated back), and stopping trusting it, which marks what it signed.
//! Real packages, built and signed with the core API; admins only, CSRF
//! checked, every change audited.

use cube_test_support as common;

use cube_host::web::Catalog;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use common::client::{Api, Browser};
use common::marketplace::{build_registry, element, installed_dir, section};
use common::marketplace_ui::{
    audited, escaped, forged_admin_api, install_from_the_page, refused_to_viewers_and_forgeries,
    submit_and_follow, submit_refused,
};
use common::{ADMIN_PASSWORD, VIEWER_PASSWORD};

/// Asks the API to trust the public key `key` (its text); returns its
/// status and answer.
async fn trust_through_the_api(api: &Api, key: &str) -> (StatusCode, Value) {
    api.json(
        Method::POST,
        "/api/v1/marketplace/publishers",
        Some(json!({ "key": key })),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pasting_a_key_trusts_its_publisher_and_untrusting_marks_what_it_signed() {
    let desk = tempfile::tempdir().unwrap();
    let (registry, acme_pub) = build_registry(desk.path()).await;
    let (base, store, data) =
        common::serve_admin_app_with_registry(Catalog::new(), &registry).await;
    let data = data.path().to_path_buf();
    let trusted_dir = data.join("trusted-keys");
    let key_text = std::fs::read_to_string(&acme_pub).unwrap();
    let key_id = key_text
        .lines()
        .find_map(|l| l.strip_prefix("key-id: "))
        .unwrap()
        .to_owned();
    let (mut admin, csrf) = common::sign_in_admin(&base).await;

    let page = admin.get("/marketplace/publishers").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("trusts no publisher yet"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Trust this key"));
    let mut viewer = Browser::new(&base);
    viewer.sign_in("vera", VIEWER_PASSWORD).await;
    let page = viewer.get("/marketplace/publishers").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("Trust this key"), "{}", page.body);

    // Viewers and forged forms change nothing.
    refused_to_viewers_and_forgeries(
        &base,
        &mut admin,
        "/marketplace/publishers",
        &[("key", &key_text)],
    )
    .await;
    assert!(!trusted_dir.exists());

    // Malformed text: 422 with why, nothing written. A secret key is
    // refused and not repeated back.
    for (text, expected) in [
        ("not a key", "does not start with the header line"),
        ("", "it is empty"),
        (
            &key_text.replace(&key_id, "0123456789abcdef"),
            "edited or damaged",
        ),
    ] {
        let page = submit_refused(
            &mut admin,
            &csrf,
            "/marketplace/publishers",
            &[("key", text)],
            StatusCode::UNPROCESSABLE_ENTITY,
            "the pasted text is not a CUBE publisher public key",
        )
        .await;
        assert!(page.body.contains(expected), "{text}: {}", page.body);
        assert!(!trusted_dir.exists());
    }
    let secret_text = std::fs::read_to_string(desk.path().join("keys/acme.key")).unwrap();
    let secret_line = secret_text
        .lines()
        .find(|l| l.starts_with("secret:"))
        .unwrap();
    let page = submit_refused(
        &mut admin,
        &csrf,
        "/marketplace/publishers",
        &[("key", &secret_text)],
        StatusCode::UNPROCESSABLE_ENTITY,
        "it is a SECRET key",
    )
    .await;
    let secret_value = secret_line.trim_start_matches("secret: ");
    assert!(!page.body.contains(secret_value));
    assert!(!page.body.contains(&escaped(secret_value)));
    assert!(!trusted_dir.exists());
    assert!(audited(&store, "marketplace.trust").await.is_empty());

    // The key, pasted: trusted, audited, and jira is verified.
    let page = submit_and_follow(
        &mut admin,
        &csrf,
        "/marketplace/publishers",
        &[("key", &key_text)],
        &format!("Trusting acme key {key_id}"),
    )
    .await;
    let row = &page.body[page.body.find(&format!("id=\"key-{key_id}\"")).unwrap()..];
    assert!(row.contains(&format!("acme-{key_id}.pub")), "{row}");
    assert!(trusted_dir.join(format!("acme-{key_id}.pub")).is_file());
    let entry = &audited(&store, "marketplace.trust").await[0];
    assert_eq!(entry.actor, "admin");
    assert_eq!(entry.target, "publisher:acme");
    let after = entry.after.as_ref().unwrap();
    assert_eq!(
        (after["publisher"].as_str(), after["key_id"].as_str()),
        (Some("acme"), Some(key_id.as_str()))
    );
    assert!(!after.to_string().contains("public:"), "{after}");
    let page = admin.get("/marketplace").await;
    assert!(
        section(&page.body, "jira", "0.1.0").contains(">verified<"),
        "{}",
        page.body
    );

    // Installed as verified, it is marked trusted.
    install_from_the_page(&mut admin, &csrf, "jira", "0.1.0", &[]).await;
    let page = admin.get("/marketplace/installed").await;
    assert_eq!(page.status, StatusCode::OK);
    let jira = element(&page.body, "installed-jira");
    assert!(jira.contains(">publisher trusted<"), "{jira}");
    let page = admin.get("/marketplace/publishers").await;
    assert!(
        page.body.contains("jira 0.1.0"),
        "the key lists what it signed: {}",
        page.body
    );

    // Stopping trusting: viewers and forgeries cannot; the admin can. The
    // connector stays installed, marked, and the package is untrusted.
    let untrust = format!("/marketplace/publishers/{key_id}/untrust");
    refused_to_viewers_and_forgeries(&base, &mut admin, &untrust, &[]).await;
    assert!(trusted_dir.join(format!("acme-{key_id}.pub")).is_file());
    let page = submit_and_follow(
        &mut admin,
        &csrf,
        &untrust,
        &[],
        &format!("No longer trusting acme key {key_id}"),
    )
    .await;
    assert!(page.body.contains("trusts no publisher yet"));
    assert!(!trusted_dir.join(format!("acme-{key_id}.pub")).exists());
    let entry = &audited(&store, "marketplace.untrust").await[0];
    assert_eq!(entry.target, "publisher:acme");
    assert_eq!(entry.before.as_ref().unwrap()["key_id"], key_id.as_str());
    let page = admin.get("/marketplace/installed").await;
    let jira = element(&page.body, "installed-jira");
    assert!(jira.contains(">publisher no longer trusted<"), "{jira}");
    assert!(jira.contains("0.1.0"), "{jira}");
    assert!(installed_dir(&data, "jira").join("0.1.0").is_dir());
    let page = admin.get("/marketplace").await;
    assert!(section(&page.body, "jira", "0.1.0").contains("signed, publisher not trusted"));
    let again = admin.post(&untrust, &[("csrf_token", &csrf)]).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);

    // The API does the same.
    let api = Api::sign_in(&base, "admin", ADMIN_PASSWORD).await;
    let (status, body) =
        trust_through_the_api(&api, "-----BEGIN CUBE PUBLISHER PUBLIC KEY-----\nnope").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "invalid");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is incomplete or has extra lines"),
        "{body}"
    );
    assert!(body["error"]["fields"]["key"].is_string(), "{body}");
    assert!(std::fs::read_dir(&trusted_dir).unwrap().next().is_none());
    let viewer_api = Api::sign_in(&base, "vera", VIEWER_PASSWORD).await;
    let (status, _) = trust_through_the_api(&viewer_api, &key_text).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let forged = forged_admin_api(&base).await;
    let (status, body) = trust_through_the_api(&forged, &key_text).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("csrf"))
    );
    let (status, body) = trust_through_the_api(&api, &key_text).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["key_id"], key_id.as_str());
    assert_eq!(body["already_trusted"], false);
    let (status, body) = trust_through_the_api(&api, &key_text).await;
    assert_eq!(
        (status, &body["already_trusted"]),
        (StatusCode::OK, &json!(true))
    );
    let (status, body) = viewer_api
        .json(Method::GET, "/api/v1/marketplace/publishers", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["publishers"][0]["publisher"], "acme");
    assert_eq!(body["publishers"][0]["signs"], json!(["jira 0.1.0"]));
    let (status, body) = viewer_api
        .json(Method::GET, "/api/v1/marketplace/installed", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["connectors"][0]["trust"], "trusted", "{body}");
    let path = format!("/api/v1/marketplace/publishers/{key_id}");
    let (status, _) = viewer_api.json(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = forged.json(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = api.json(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["removed"][0]["key_id"], key_id.as_str());
    let (status, _) = api.json(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, body) = api
        .json(Method::GET, "/api/v1/marketplace/installed", None)
        .await;
    assert_eq!(
        body["connectors"][0]["trust"], "no_longer_trusted",
        "{body}"
    );
    assert_eq!(audited(&store, "marketplace.trust").await.len(), 3);
    assert_eq!(audited(&store, "marketplace.untrust").await.len(), 2);
}
