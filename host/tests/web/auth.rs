//! Sign-in, sessions, roles, CSRF and escaping, over real HTTP against the
//! real router and store.

use cube_test_support as common;

use cube_host::store::Store;
use cube_host::web::Catalog;
use reqwest::StatusCode;
use reqwest::header::SET_COOKIE;

use common::client::{Browser, hidden};
use common::web_forms::{self, assert_contains};
use common::{ADMIN_PASSWORD, VIEWER_PASSWORD};

struct Server {
    base: String,
    store: Store,
    _dir: tempfile::TempDir,
}

async fn server() -> Server {
    server_with(Catalog::new()).await
}

/// A server with the two test users and `catalog`'s connectors.
async fn server_with(catalog: Catalog) -> Server {
    let (base, store, dir) = common::serve_admin_app(catalog).await;
    Server {
        base,
        store,
        _dir: dir,
    }
}

/// Posts the form that adds the user `username` with `role`.
async fn add_user(
    browser: &mut Browser,
    csrf: &str,
    username: &str,
    role: &str,
    password: &str,
) -> common::client::Page {
    let form = [
        ("csrf_token", csrf),
        ("username", username),
        ("role", role),
        ("password", password),
    ];
    browser.post("/admin/users", &form).await
}

/// Posts the sign-in form as `admin`, with the form's `csrf` token and
/// `next`, where to go once signed in.
async fn sign_in_as_admin(browser: &mut Browser, csrf: &str, next: &str) -> common::client::Page {
    let form = [
        ("csrf_token", csrf),
        ("username", "admin"),
        ("password", ADMIN_PASSWORD),
        ("next", next),
    ];
    browser.post("/login", &form).await
}

/// Whether `store` holds the user `username`.
async fn has_user(store: &Store, username: &str) -> bool {
    store
        .users()
        .await
        .unwrap()
        .iter()
        .any(|u| u.username == username)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_signs_in_uses_admin_pages_and_signs_out() {
    let server = server().await;
    let mut browser = Browser::new(&server.base);

    let first = browser.get("/admin/users").await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    assert_eq!(first.location.as_deref(), Some("/login?next=/admin/users"));

    let signed_in = web_forms::signed_in(&mut browser, "admin", ADMIN_PASSWORD).await;
    assert_eq!(signed_in.location.as_deref(), Some("/admin/users"));
    let cookie = signed_in
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("cube_session="))
        .unwrap();
    assert_contains(&cookie, "HttpOnly");
    assert_contains(&cookie, "SameSite=Lax");

    let users = browser.get("/admin/users").await;
    assert_eq!(users.status, StatusCode::OK);
    assert_contains(&users.body, "vera");
    assert_eq!(
        users.headers.get("x-frame-options").unwrap(),
        "DENY",
        "security headers are set"
    );
    assert!(users.headers.get("content-security-policy").is_some());

    let csrf = browser.csrf().await;
    let out = browser.post("/logout", &[("csrf_token", &csrf)]).await;
    assert_eq!(out.location.as_deref(), Some("/login"));
    let after = browser.get("/admin/users").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER, "the session is gone");

    let audit = server.store.audit_entries(10).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "session.sign-in" && e.actor == "admin")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_is_refused_the_admin_pages() {
    let server = server().await;
    let mut browser = Browser::new(&server.base);
    browser.sign_in("vera", VIEWER_PASSWORD).await;
    assert_eq!(
        browser.get("/integrations/providers").await.status,
        StatusCode::OK
    );
    for path in ["/admin/users", "/admin/audit"] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        assert!(page.body.contains("This page is for admins"));
    }
    let csrf = browser.csrf().await;
    let create = add_user(
        &mut browser,
        &csrf,
        "mallory",
        "admin",
        "a long enough password",
    )
    .await;
    assert_eq!(create.status, StatusCode::FORBIDDEN);
    assert!(!has_user(&server.store, "mallory").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_without_the_csrf_token_are_refused() {
    let server = server().await;
    let mut browser = Browser::new(&server.base);
    browser.sign_in("admin", ADMIN_PASSWORD).await;

    for token in ["", "forged"] {
        let create = add_user(
            &mut browser,
            token,
            "eve",
            "viewer",
            "a long enough password",
        )
        .await;
        assert_eq!(create.status, StatusCode::FORBIDDEN);
        assert!(create.body.contains("Form expired"));
    }
    assert!(!has_user(&server.store, "eve").await);
    let logout = browser.post("/logout", &[("csrf_token", "forged")]).await;
    assert_eq!(logout.status, StatusCode::FORBIDDEN);

    // The sign-in form checks its double-submit token too.
    let mut stranger = Browser::new(&server.base);
    let login = stranger
        .post(
            "/login",
            &[
                ("csrf_token", "x"),
                ("username", "admin"),
                ("password", ADMIN_PASSWORD),
            ],
        )
        .await;
    assert_eq!(login.status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_are_refused_then_throttled() {
    let server = server().await;
    let mut browser = Browser::new(&server.base);
    for _ in 0..5 {
        let page = browser.sign_in("admin", "not the password").await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
        assert!(page.body.contains("The user name or password is wrong."));
    }
    let throttled = browser.sign_in("admin", ADMIN_PASSWORD).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.headers.get("retry-after").is_some());
    assert!(throttled.body.contains("Too many failed sign-ins"));
    // Another account is not locked by guesses at this one.
    assert_eq!(
        browser.sign_in("vera", VIEWER_PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_manage_users_and_a_deleted_users_sessions_end() {
    let server = server().await;
    let mut admin = Browser::new(&server.base);
    admin.sign_in("admin", ADMIN_PASSWORD).await;
    let csrf = admin.csrf().await;

    let created = add_user(&mut admin, &csrf, "grace", "viewer", "cobol compiler 1959").await;
    assert_eq!(created.status, StatusCode::SEE_OTHER);
    let listing = admin.get(created.location.as_deref().unwrap()).await;
    assert_contains(&listing.body, "User grace added.");

    let mut grace = Browser::new(&server.base);
    assert_eq!(
        grace.sign_in("grace", "cobol compiler 1959").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        grace.get("/integrations/providers").await.status,
        StatusCode::OK
    );

    let id = server
        .store
        .users()
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.username == "grace")
        .unwrap()
        .id;
    let unconfirmed = admin
        .post(
            &format!("/admin/users/{id}/delete"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(unconfirmed.status, StatusCode::BAD_REQUEST);
    let deleted = admin
        .post(
            &format!("/admin/users/{id}/delete"),
            &[("csrf_token", &csrf), ("confirm", "yes")],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert_eq!(
        grace.get("/integrations/providers").await.status,
        StatusCode::SEE_OTHER
    );

    let audit = admin.get("/admin/audit").await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.body);
    assert!(audit.body.contains("user.create") && audit.body.contains("user.delete"));
    assert!(audit.body.contains("user:grace"));
    assert!(
        !audit.body.contains("cobol compiler"),
        "no password in the audit log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn script_in_names_and_links_renders_inert() {
    let server = server().await;
    let mut admin = Browser::new(&server.base);
    let login = admin
        .get("/login?next=/x\"><script>alert(1)</script>")
        .await;
    assert!(
        !login.body.contains("<script>alert(1)</script>"),
        "{}",
        login.body
    );

    admin.sign_in("admin", ADMIN_PASSWORD).await;
    let csrf = admin.csrf().await;
    let refused = add_user(
        &mut admin,
        &csrf,
        "<script>alert(1)</script>",
        "viewer",
        "a long enough password",
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        !refused.body.contains("<script>alert(1)</script>"),
        "{}",
        refused.body
    );
    assert!(
        refused
            .body
            .contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;")
            || refused.body.contains("&lt;script&gt;")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_redirects_after_sign_in_are_not_followed() {
    let server = server().await;
    // As links carry them (percent-encoded in the query), and as the form
    // posts them back.
    for (link, kept) in [
        ("/%09/evil.example", "/"),
        ("//evil.example", "/"),
        ("/%5Cevil.example", "/"),
        ("https://evil.example", "/"),
        ("/%252F%252Fevil.example", "/"),
        ("/%0d%0a/evil.example", "/"),
        ("/integrations/3?tab=x", "/integrations/3?tab=x"),
        ("/integrations/3%3Ftab%3Dx", "/integrations/3?tab=x"),
    ] {
        let mut browser = Browser::new(&server.base);
        let form = browser.get(&format!("/login?next={link}")).await;
        let csrf = hidden(&form.body, "csrf_token");
        let next = hidden(&form.body, "next")
            .replace("&#x2f;", "/")
            .replace("&amp;", "&")
            .replace("&#x3d;", "=")
            .replace("&#x3f;", "?");
        assert_eq!(next, kept, "the form keeps {link} as {next}");
        let page = sign_in_as_admin(&mut browser, &csrf, &next).await;
        assert_eq!(page.location.as_deref(), Some(kept), "{link}");
    }
    // Posted as they are, past the form.
    for next in [
        "/\t/evil.example",
        "//evil.example",
        "/\\evil.example",
        "https://evil.example",
        "/%2F%2Fevil.example",
        "/%5C%5Cevil.example",
        "/\r\n/evil.example",
        " //evil.example",
    ] {
        let mut browser = Browser::new(&server.base);
        let form = browser.get("/login").await;
        let csrf = hidden(&form.body, "csrf_token");
        let page = sign_in_as_admin(&mut browser, &csrf, next).await;
        assert_eq!(page.location.as_deref(), Some("/"), "{next:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_providers_page_lists_connectors_and_what_they_ask_for() {
    let connectors = tempfile::tempdir().unwrap();
    std::fs::write(connectors.path().join("probe.wasm"), common::probe_wasm()).unwrap();
    std::fs::write(connectors.path().join("junk.wasm"), b"not wasm").unwrap();
    let catalog = Catalog::new();
    catalog
        .clone()
        .load_dirs(common::runtime(), vec![connectors.path().to_path_buf()])
        .await;

    let server = server_with(catalog).await;
    let mut browser = Browser::new(&server.base);
    browser.sign_in("vera", VIEWER_PASSWORD).await;
    let page = browser.get("/integrations/providers").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_contains(&page.body, "Probe <small>probe 0.1.0</small>");
    // HTML-escaped (`/` becomes `&#x2f;`), as every rendered value is.
    assert_contains(&page.body, "http:&#x2f;&#x2f;127.0.0.1:*");
    assert!(page.body.contains("junk.wasm"));
    assert!(page.body.contains("not a WebAssembly file"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_everywhere_ends_every_session_of_the_account() {
    let server = server().await;
    let mut laptop = Browser::new(&server.base);
    let mut phone = Browser::new(&server.base);
    laptop.sign_in("vera", VIEWER_PASSWORD).await;
    phone.sign_in("vera", VIEWER_PASSWORD).await;
    let mut other = Browser::new(&server.base);
    other.sign_in("admin", ADMIN_PASSWORD).await;

    let csrf = laptop.csrf().await;
    let refused = laptop
        .post("/logout/everywhere", &[("csrf_token", "forged")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let out = laptop
        .post("/logout/everywhere", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(out.location.as_deref(), Some("/login"));
    for browser in [&mut laptop, &mut phone] {
        let page = browser.get("/integrations/providers").await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "signed out");
    }
    assert_eq!(
        other.get("/integrations/providers").await.status,
        StatusCode::OK,
        "other accounts keep their sessions"
    );
    let audit = server.store.audit_entries(10).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "session.sign-out-everywhere" && e.actor == "vera")
    );
}
