//! The Active Directory / LDAP setup wizard over real HTTP against the real
//! slapd: server and TLS, then a bind checked on its own step (a server not
//! yet granted is named and granted with one click; a wrong password is
//! named), then search bases with a live preview of what they match, then
//! attributes, access and schedule, and a saved integration.

use cube_test_support as common;

use reqwest::StatusCode;

use common::slapd;
use common::web_forms::{Wizard, assert_contains, assert_step, unescaped};

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
    assert_step(&start.body, "Server");

    let port_text = port.to_string();
    let server = [
        ("cfg.server", "127.0.0.1"),
        ("cfg.port", &port_text),
        ("cfg.tls", "starttls"),
        ("cfg.ca_pem", &ca),
        ("cfg.timeout_seconds", "10"),
    ];
    let (mut wizard, server) = Wizard::start(&mut browser, url, &csrf, &server).await;
    assert_eq!(server.status, StatusCode::OK, "{}", server.body);
    assert_step(&server.body, "Bind");

    // The bind is checked before the wizard moves on. The server is not
    // granted yet: the page names it and offers to grant exactly it.
    let wrong = [
        ("cfg.bind_dn", bind_dn.as_str()),
        ("cfg.password", "not-the-password"),
    ];
    let refused = wizard.post("1", "next", &wrong).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = unescaped(&refused.body);
    assert_step(&page, "Bind");
    assert_contains(&page, &format!("The connector was refused {grant}"));
    assert_contains(&page, &format!("name=\"allow\" value=\"{grant}\""));
    assert!(
        !page.contains("not-the-password"),
        "a secret never comes back"
    );

    // Granted, the check runs again and names the wrong password.
    let allowed = wizard
        .post(
            "1",
            "allow",
            &[("cfg.bind_dn", &bind_dn), ("allow", &grant)],
        )
        .await;
    assert_eq!(allowed.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = unescaped(&allowed.body);
    assert_contains(&page, "Check failed (Bind)");
    assert_contains(&page, "refused the bind as cn=sync");
    assert_contains(&page, "bind DN or password is wrong");
    assert_contains(&page, "Continue without a passing check");

    // The right password passes the check and the wizard moves on.
    let bound = wizard
        .post(
            "1",
            "next",
            &[("cfg.bind_dn", &bind_dn), ("cfg.password", &password)],
        )
        .await;
    assert_eq!(bound.status, StatusCode::OK, "{}", bound.body);
    let page = unescaped(&bound.body);
    assert_step(&page, "Search");
    assert_contains(&page, "Check passed (Bind)");
    assert_contains(&page, "bound as cn=sync");

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
    let preview = wizard.post("2", "check", &search).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    let page = unescaped(&preview.body);
    // A check stays on its step.
    assert_step(&page, "Search");
    assert_contains(
        &page,
        "6 users under ou=People,dc=example,dc=com (first 6: ",
    );
    assert_contains(&page, "3 groups under ou=Groups,dc=example,dc=com");
    assert_contains(&page, "engineers");

    // A base that does not exist is named, on this step.
    let mut missing = search.to_vec();
    missing[1] = ("cfg.user_base", "ou=Nowhere,dc=example,dc=com");
    let nowhere = wizard.post("2", "next", &missing).await;
    assert_eq!(nowhere.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        unescaped(&nowhere.body)
            .contains("The search base ou=Nowhere,dc=example,dc=com does not exist"),
        "{}",
        nowhere.body
    );

    let attributes = wizard.post("2", "next", &search).await;
    assert_step(&attributes.body, "Attributes");
    let access = wizard
        .post("3", "next", &[("cfg.preset", "active-directory")])
        .await;
    let page = unescaped(&access.body);
    assert_step(&page, "Name and access");
    assert!(
        page.contains(&grant),
        "the granted server is on the access step: {page}"
    );

    // A directory gets a daily full sync unless the admin says otherwise;
    // a half-filled schedule comes back as typed, with what to fix.
    assert_contains(
        &access.body,
        "name=\"full_sync_interval_minutes\" value=\"1440\"",
    );
    let mut name_and_access = async |full_sync_interval: &str| {
        let fields = [
            ("name", "Corp directory"),
            ("ldap_grants", &grant),
            ("http_grants", ""),
            ("sync_interval_minutes", "60"),
            ("full_sync_interval_minutes", full_sync_interval),
            ("full_sync_cron", "0 4 * * *"),
        ];
        wizard.post("4", "next", &fields).await
    };
    let refused = name_and_access("1440").await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_contains(
        &refused.body,
        "Choose an interval or a cron expression for full syncs, not both.",
    );
    assert_contains(&refused.body, "name=\"full_sync_cron\" value=\"0 4 * * *\"");
    assert_step(&refused.body, "Name and access");
    let last = name_and_access("").await;
    assert_step(&last.body, "Test and save");
    let tested = wizard.post("5", "test", &[]).await;
    assert_contains(&tested.body, "id=\"verdict\"");
    let saved = wizard.post("5", "save", &[]).await;
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
