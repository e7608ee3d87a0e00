//! API tokens over real HTTP: made on the admin page and shown once,
//! `Authorization: Bearer` instead of a session and CSRF token, scopes cut
//! down to the role behind the token, revocation and expiry at once, the
//! per-token rate limit with its fields, and every refusal audited.

use cube_test_support as common;

use common::api_tokens::new_token;

use cube_host::store::Store;
use cube_host::store::api_tokens::{NewToken, Scope, TokenFor};
use cube_host::store::users::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use common::ADMIN_PASSWORD;
use common::client::{Bearer, Browser};

/// Makes a token through the admin page's form; returns the page.
pub(super) async fn make_token(
    browser: &mut Browser,
    form: &[(&str, &str)],
) -> common::client::Page {
    let csrf = browser.csrf().await;
    let mut fields = vec![("csrf_token", csrf.as_str())];
    fields.extend_from_slice(form);
    browser.post("/admin/tokens", &fields).await
}

async fn audit_actions(store: &Store) -> Vec<(String, String)> {
    store
        .audit_entries(500)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.actor, e.action))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_made_on_the_page_is_shown_once_and_works_without_a_session() {
    let (base, store, dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let mut browser = Browser::new(&base);
    browser.sign_in("admin", ADMIN_PASSWORD).await;
    let made = make_token(
        &mut browser,
        &[
            ("name", "ci"),
            ("owner", "me"),
            ("scope_read", "on"),
            ("scope_write", "on"),
            ("expires", "30d"),
            ("requests_per_minute", "600"),
        ],
    )
    .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    assert_eq!(made.headers["cache-control"], "no-store");
    let secret = input_value_by_id(&made.body, "new-token");
    assert!(secret.starts_with("cube_pat_"), "{secret}");

    // Never again: not on the list, not in the database.
    let list = browser.get("/admin/tokens").await;
    assert!(list.body.contains("ci"));
    assert!(!list.body.contains(&secret));
    assert!(list.body.contains(&secret[..13]), "the hint is shown");
    let mut on_disk = Vec::new();
    for file in ["cube.db", "cube.db-wal"] {
        on_disk.extend(std::fs::read(dir.path().join(file)).unwrap_or_default());
    }
    assert!(!on_disk.is_empty());
    let random_part = &secret.as_bytes()[9..];
    assert!(
        !on_disk.windows(random_part.len()).any(|w| w == random_part),
        "the token is stored only as a hash"
    );

    // The token reads and writes without a cookie or a CSRF token.
    let api = Bearer::new(&base, &secret);
    let (status, body) = api
        .json(reqwest::Method::GET, "/api/v1/integrations", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, order) = api
        .json(
            reqwest::Method::POST,
            "/api/v1/work-orders",
            Some(json!({ "title": "Printer on fire", "description": "Floor 3" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    // Audited under the token's name.
    let actions = audit_actions(&store).await;
    assert!(
        actions.contains(&(
            "admin (token ci)".to_owned(),
            "work-order.create".to_owned()
        )),
        "{actions:?}"
    );
    // Its use is on the list.
    let token = &store.api_tokens(None).await.unwrap()[0];
    assert_eq!(token.last_used_from.as_deref(), Some("127.0.0.1"));
    assert!(token.last_used_at.is_some());
}

/// The value of the input whose id is `id`.
pub(super) fn input_value_by_id(body: &str, id: &str) -> String {
    let at = body
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {body}"));
    let rest = &body[at..];
    let start = rest.find("value=\"").unwrap() + 7;
    rest[start..start + rest[start..].find('"').unwrap()].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_the_scope_is_refused_with_the_scope_it_needs_and_audited() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let admin = store.user_named("admin").await.unwrap().unwrap();
    let (_, secret) = store
        .create_api_token(&new_token("reader", TokenFor::User(&admin), &[Scope::Read]))
        .await
        .unwrap();
    let api = Bearer::new(&base, &secret);
    let response = api
        .send(
            reqwest::Method::POST,
            "/api/v1/work-orders",
            Some(json!({ "title": "x" })),
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer error=\"insufficient_scope\", scope=\"write\""
    );
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "insufficient_scope");
    assert_eq!(store.work_orders(10, 0).await.unwrap().len(), 0);
    let actions = audit_actions(&store).await;
    assert!(
        actions.contains(&(
            "admin (token reader)".to_owned(),
            "api_token.forbidden".to_owned()
        )),
        "{actions:?}"
    );
    // `admin` includes `write` and `read`, but not the directory.
    let (_, manager) = store
        .create_api_token(&new_token(
            "manager",
            TokenFor::User(&admin),
            &[Scope::Admin],
        ))
        .await
        .unwrap();
    let manager = Bearer::new(&base, &manager);
    let (status, _) = manager
        .json(reqwest::Method::GET, "/api/v1/work-orders", None)
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_revoked_and_expired_tokens_are_refused_and_a_cookie_beside_them_does_not_help() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let admin = store.user_named("admin").await.unwrap().unwrap();
    let new = |name| new_token(name, TokenFor::User(&admin), &[Scope::Admin]);
    let (revoked, revoked_secret) = store.create_api_token(&new("gone")).await.unwrap();
    store.revoke_api_token(revoked.id, "test").await.unwrap();
    let (soon, soon_secret) = store
        .create_api_token(&NewToken {
            expires_at: Some(cube_host::store::now_millis() + 1_000),
            ..new("soon")
        })
        .await
        .unwrap();
    let before_expiry = Bearer::new(&base, &soon_secret);
    let (status, _) = before_expiry
        .json(reqwest::Method::GET, "/api/v1/integrations", None)
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "token {} works until it expires",
        soon.id
    );
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;

    // A signed-in admin's cookie rides along: the bearer header decides.
    let mut browser = Browser::new(&base);
    browser.sign_in("admin", ADMIN_PASSWORD).await;
    let cookie = browser.cookie_header();
    for secret in [
        revoked_secret.as_str(),
        soon_secret.as_str(),
        "cube_pat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "",
    ] {
        let response = reqwest::Client::new()
            .get(format!("{base}/api/v1/integrations"))
            .header("authorization", format!("Bearer {secret}"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{secret}");
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer error=\"invalid_token\""
        );
    }
    // Audited once a minute per address, not once per attempt.
    let rejected = audit_actions(&store)
        .await
        .into_iter()
        .filter(|(_, action)| action == "api_token.rejected")
        .count();
    assert_eq!(rejected, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_over_its_rate_limit_gets_429_with_when_to_come_back() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let admin = store.user_named("admin").await.unwrap().unwrap();
    let (_, secret) = store
        .create_api_token(&NewToken {
            requests_per_minute: 3,
            ..new_token("slow", TokenFor::User(&admin), &[Scope::Read])
        })
        .await
        .unwrap();
    let api = Bearer::new(&base, &secret);
    for remaining in [2, 1, 0] {
        let response = api
            .send(reqwest::Method::GET, "/api/v1/integrations", None)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["ratelimit-policy"],
            "\"per-token\";q=3;w=60"
        );
        let field = response.headers()["ratelimit"].to_str().unwrap().to_owned();
        assert!(
            field.starts_with(&format!("\"per-token\";r={remaining};t=")),
            "{field}"
        );
    }
    for _ in 0..2 {
        let refused = api
            .send(reqwest::Method::GET, "/api/v1/integrations", None)
            .await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = refused.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        let body: Value = serde_json::from_str(&refused.text().await.unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "rate_limited");
    }
    let limited = audit_actions(&store)
        .await
        .into_iter()
        .filter(|(_, action)| action == "api_token.rate_limited")
        .count();
    assert_eq!(limited, 1, "one audit entry per window");
    // Sessions are not limited by it.
    let session = common::client::Api::sign_in(&base, "admin", ADMIN_PASSWORD).await;
    let (status, _) = session.get("/api/v1/integrations").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_never_does_more_than_the_role_behind_it() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let viewer = store.user_named("vera").await.unwrap().unwrap();
    assert_eq!(viewer.role, Role::Viewer);
    let refused = store
        .create_api_token(&new_token(
            "too-much",
            TokenFor::User(&viewer),
            &[Scope::Write],
        ))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("`write`"), "{refused}");

    // An admin's token stops managing when the admin is a viewer no more.
    let ops = store
        .create_user("ops", "ops password 2026!", Role::Admin)
        .await
        .unwrap();
    let account = store
        .create_service_account("deployer", "the CD pipeline", &ops)
        .await
        .unwrap();
    let (_, secret) = store
        .create_api_token(&new_token(
            "cd",
            TokenFor::ServiceAccount(&account),
            &[Scope::Admin],
        ))
        .await
        .unwrap();
    assert!(secret.starts_with("cube_sat_"));
    let api = Bearer::new(&base, &secret);
    let body = json!({ "title": "Deploy window", "description": "" });
    let (status, _) = api
        .json(
            reqwest::Method::POST,
            "/api/v1/work-orders",
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let actions = audit_actions(&store).await;
    assert!(
        actions.contains(&(
            "deployer (token cd)".to_owned(),
            "work-order.create".to_owned()
        )),
        "{actions:?}"
    );
    // As a directory sign-in does when the admin group no longer lists them.
    sqlx::query("UPDATE users SET role = 'viewer' WHERE id = $1")
        .bind(ops.id)
        .execute(store.pool())
        .await
        .unwrap();
    let (status, body) = api
        .json(reqwest::Method::POST, "/api/v1/work-orders", Some(body))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = api
        .json(reqwest::Method::GET, "/api/v1/work-orders", None)
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "reading is still within a viewer's role"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_accounts_and_revocation_on_the_page() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let mut browser = Browser::new(&base);
    browser.sign_in("admin", ADMIN_PASSWORD).await;
    let csrf = browser.csrf().await;
    let added = browser
        .post(
            "/admin/service-accounts",
            &[
                ("csrf_token", &csrf),
                ("name", "nightly-export"),
                ("description", "BI export"),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    let account = store
        .service_account_named("nightly-export")
        .await
        .unwrap()
        .unwrap();
    let owner = format!("service-account:{}", account.id);
    // A half-filled form comes back with what was wrong and what was typed.
    let half = make_token(
        &mut browser,
        &[
            ("name", "export"),
            ("owner", &owner),
            ("expires", "90d"),
            ("requests_per_minute", "60"),
        ],
    )
    .await;
    assert_eq!(half.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(half.body.contains("at least one scope"), "{}", half.body);
    assert!(half.body.contains("value=\"export\""));
    let made = make_token(
        &mut browser,
        &[
            ("name", "export"),
            ("owner", &owner),
            ("scope_directory_read", "on"),
            ("expires", "never"),
            ("requests_per_minute", "60"),
        ],
    )
    .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let secret = input_value_by_id(&made.body, "new-token");
    let token = store.api_tokens(None).await.unwrap().remove(0);
    assert_eq!(token.owner.name(), "nightly-export");
    assert_eq!(token.expires_at, None);

    // Revoking needs the confirmation and the CSRF token, then works at once.
    let unconfirmed = browser
        .post(
            &format!("/admin/tokens/{}/revoke", token.id),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(unconfirmed.status, StatusCode::BAD_REQUEST);
    let forged = browser
        .post(
            &format!("/admin/tokens/{}/revoke", token.id),
            &[("csrf_token", "forged"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(
        store
            .api_token(token.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    let revoked = browser
        .post(
            &format!("/admin/tokens/{}/revoke", token.id),
            &[("csrf_token", &csrf), ("confirm", "yes")],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    let api = Bearer::new(&base, &secret);
    let (status, _) = api
        .json(reqwest::Method::GET, "/api/v1/integrations", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let list = browser.get("/admin/tokens").await;
    assert!(list.body.contains("revoked by admin"), "{}", list.body);

    // Viewers see none of it.
    let mut viewer = Browser::new(&base);
    viewer.sign_in("vera", common::VIEWER_PASSWORD).await;
    assert_eq!(
        viewer.get("/admin/tokens").await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_of_a_service_account_is_not_deleted_from_under_it() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let ops = store
        .create_user("ops", "ops password 2026!", Role::Admin)
        .await
        .unwrap();
    store
        .create_service_account("deployer", "", &ops)
        .await
        .unwrap();
    let mut browser = Browser::new(&base);
    browser.sign_in("admin", ADMIN_PASSWORD).await;
    let csrf = browser.csrf().await;
    let refused = browser
        .post(
            &format!("/admin/users/{}/delete", ops.id),
            &[("csrf_token", &csrf), ("confirm", "yes")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("deployer"), "{}", refused.body);
    assert!(store.user(ops.id).await.unwrap().is_some());
}
