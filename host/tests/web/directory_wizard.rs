//! The Active Directory / LDAP setup wizard over real HTTP against the real
//! slapd: server and TLS, then a bind checked on its own step (a server not
//! yet granted is named and granted with one click; a wrong password is
//! named), then search bases with a live preview of what they match, then
//! attributes, access and schedule, and a saved integration.

use cube_test_support as common;

use reqwest::StatusCode;

use common::client::hidden;
use common::slapd;

/// The page with `/` unescaped, for reading URLs and DNs in it.
fn text(body: &str) -> String {
    body.replace("&#x2f;", "/").replace("&#x3d;", "=")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_directory_wizard_checks_the_bind_and_previews_the_search() {
    let catalog = common::plugin_catalog(&["active-directory"]).await;
    let (base, store, _dir) = common::serve_admin_app(catalog).await;
    let (mut browser, csrf) = common::sign_in_admin(&base).await;
    let (port, _) = slapd::ports();
    let grant = format!("ldap://127.0.0.1:{port}");
    let ca = slapd::ca_pem();
    let suffix = slapd::env("CUBE_TEST_LDAP_BASE");
    let bind_dn = slapd::env("CUBE_TEST_LDAP_BIND_DN");
    let password = slapd::env("CUBE_TEST_LDAP_BIND_PASSWORD");
    let url = "/integrations/create/active-directory";

    let start = browser.get(url).await;
    assert_eq!(start.status, StatusCode::OK);
    assert!(
        start.body.contains("aria-current=\"step\">Server<"),
        "{}",
        start.body
    );

    let port_text = port.to_string();
    let server = browser
        .post(
            url,
            &[
                ("csrf_token", &csrf),
                ("draft", ""),
                ("step", "0"),
                ("nav", "next"),
                ("cfg.server", "127.0.0.1"),
                ("cfg.port", &port_text),
                ("cfg.tls", "starttls"),
                ("cfg.ca_pem", &ca),
                ("cfg.timeout_seconds", "10"),
            ],
        )
        .await;
    assert_eq!(server.status, StatusCode::OK, "{}", server.body);
    assert!(
        server.body.contains("aria-current=\"step\">Bind<"),
        "{}",
        server.body
    );
    let draft = hidden(&server.body, "draft");
    let mut post = async |step: &str, nav: &str, extra: &[(&str, &str)]| {
        let mut form = vec![
            ("csrf_token", csrf.as_str()),
            ("draft", draft.as_str()),
            ("step", step),
            ("nav", nav),
        ];
        form.extend_from_slice(extra);
        browser.post(url, &form).await
    };

    // The bind is checked before the wizard moves on. The server is not
    // granted yet: the page names it and offers to grant exactly it.
    let wrong = [
        ("cfg.bind_dn", bind_dn.as_str()),
        ("cfg.password", "not-the-password"),
    ];
    let refused = post("1", "next", &wrong).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = text(&refused.body);
    assert!(page.contains("aria-current=\"step\">Bind<"), "{page}");
    assert!(
        page.contains(&format!("The connector was refused {grant}")),
        "{page}"
    );
    assert!(
        page.contains(&format!("name=\"allow\" value=\"{grant}\"")),
        "{page}"
    );
    assert!(
        !page.contains("not-the-password"),
        "a secret never comes back"
    );

    // Granted, the check runs again and names the wrong password.
    let allowed = post(
        "1",
        "allow",
        &[("cfg.bind_dn", &bind_dn), ("allow", &grant)],
    )
    .await;
    assert_eq!(allowed.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = text(&allowed.body);
    assert!(page.contains("Check failed (Bind)"), "{page}");
    assert!(page.contains("refused the bind as cn=sync"), "{page}");
    assert!(page.contains("bind DN or password is wrong"), "{page}");
    assert!(page.contains("Continue without a passing check"), "{page}");

    // The right password passes the check and the wizard moves on.
    let bound = post(
        "1",
        "next",
        &[("cfg.bind_dn", &bind_dn), ("cfg.password", &password)],
    )
    .await;
    assert_eq!(bound.status, StatusCode::OK, "{}", bound.body);
    let page = text(&bound.body);
    assert!(page.contains("aria-current=\"step\">Search<"), "{page}");
    assert!(page.contains("Check passed (Bind)"), "{page}");
    assert!(page.contains("bound as cn=sync"), "{page}");

    // The search bases, previewed live: counts and the first names.
    let people = format!("ou=People,{suffix}");
    let groups = format!("ou=Groups,{suffix}");
    let search = [
        ("cfg.base_dn", suffix.as_str()),
        ("cfg.user_base", people.as_str()),
        ("cfg.group_base", groups.as_str()),
        ("cfg.user_filter", "(objectClass=user)"),
        ("cfg.group_filter", ""),
        ("cfg.page_size", "200"),
    ];
    let preview = post("2", "check", &search).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    let page = text(&preview.body);
    assert!(
        page.contains("aria-current=\"step\">Search<"),
        "a check stays on its step"
    );
    assert!(
        page.contains("6 users under ou=People,dc=example,dc=com (first 6: "),
        "{page}"
    );
    assert!(
        page.contains("3 groups under ou=Groups,dc=example,dc=com"),
        "{page}"
    );
    assert!(page.contains("engineers"), "{page}");

    // A base that does not exist is named, on this step.
    let mut missing = search.to_vec();
    missing[1] = ("cfg.user_base", "ou=Nowhere,dc=example,dc=com");
    let nowhere = post("2", "next", &missing).await;
    assert_eq!(nowhere.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        text(&nowhere.body).contains("The search base ou=Nowhere,dc=example,dc=com does not exist"),
        "{}",
        nowhere.body
    );

    let attributes = post("2", "next", &search).await;
    assert!(
        attributes
            .body
            .contains("aria-current=\"step\">Attributes<"),
        "{}",
        attributes.body
    );
    let access = post("3", "next", &[("cfg.preset", "active-directory")]).await;
    let page = text(&access.body);
    assert!(
        page.contains("aria-current=\"step\">Name and access<"),
        "{page}"
    );
    assert!(
        page.contains(&grant),
        "the granted server is on the access step: {page}"
    );

    // A directory gets a daily full sync unless the admin says otherwise;
    // a half-filled schedule comes back as typed, with what to fix.
    assert!(
        access
            .body
            .contains("name=\"full_sync_interval_minutes\" value=\"1440\""),
        "{}",
        access.body
    );
    let refused = post(
        "4",
        "next",
        &[
            ("name", "Corp directory"),
            ("ldap_grants", &grant),
            ("http_grants", ""),
            ("sync_interval_minutes", "60"),
            ("full_sync_interval_minutes", "1440"),
            ("full_sync_cron", "0 4 * * *"),
        ],
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .body
            .contains("Choose an interval or a cron expression for full syncs, not both."),
        "{}",
        refused.body
    );
    assert!(
        refused
            .body
            .contains("name=\"full_sync_cron\" value=\"0 4 * * *\"")
    );
    assert!(
        refused
            .body
            .contains("aria-current=\"step\">Name and access<")
    );
    let last = post(
        "4",
        "next",
        &[
            ("name", "Corp directory"),
            ("ldap_grants", &grant),
            ("http_grants", ""),
            ("sync_interval_minutes", "60"),
            ("full_sync_interval_minutes", ""),
            ("full_sync_cron", "0 4 * * *"),
        ],
    )
    .await;
    assert!(
        last.body.contains("aria-current=\"step\">Test and save<"),
        "{}",
        last.body
    );
    let tested = post("5", "test", &[]).await;
    assert!(tested.body.contains("id=\"verdict\""), "{}", tested.body);
    let saved = post("5", "save", &[]).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let id: i64 = saved
        .location
        .unwrap()
        .trim_start_matches("/integrations/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let integration = store.integration(id).await.unwrap().unwrap();
    assert_eq!(integration.provider_id, "active-directory");
    assert_eq!(
        integration
            .ldap_grants
            .iter()
            .map(|g| g.to_string())
            .collect::<Vec<_>>(),
        [grant]
    );
    assert_eq!(integration.config["user_base"], people.as_str());
    assert_eq!(integration.sync_interval_secs, Some(3600));
    assert_eq!(integration.full_sync_cron.as_deref(), Some("0 4 * * *"));
    assert_eq!(integration.full_sync_interval_secs, None);
    assert!(
        !integration.config.contains_key("password"),
        "the password is sealed apart"
    );
}
