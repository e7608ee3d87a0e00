//! The admin UI in a real browser: headless Chromium driven over WebDriver
//! (ChromeDriver), against the real server. Every page visited is saved as
//! a screenshot under `target/screenshots/` (a test artifact).

use cube_test_support as common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cube_host::store::Store;
use fantoccini::{Client, ClientBuilder, Locator};

use common::web_forms::assert_contains;
use common::{ADMIN_PASSWORD, VIEWER_PASSWORD};

/// ChromeDriver on a free port, stopped on drop, and the profile directory
/// of the browser it drives.
struct Driver {
    child: Child,
    url: String,
    profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_driver() -> Driver {
    let binary =
        std::env::var("CUBE_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    let port = free_port();
    let child = Command::new(&binary)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {binary} ({e}); run scripts/setup-browser.sh"));
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        profile: tempfile::tempdir().unwrap(),
    }
}

async fn browser(driver: &Driver) -> Client {
    let chromium = std::env::var("CUBE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--window-size=1280,900",
                format!("--user-data-dir={}", driver.profile.path().display()),
            ]
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("starting a Chromium session")
}

/// A browser on a ChromeDriver of its own (stopped when dropped), and the
/// admin app with the probe connector loaded that it visits: the driver,
/// the browser, the app's base URL, its store and the store's directory.
async fn start() -> (Driver, Client, String, Store, tempfile::TempDir) {
    let driver = start_driver();
    let client = browser(&driver).await;
    let (base, store, dir) = common::serve_admin_app(common::probe_catalog().await).await;
    (driver, client, base, store, dir)
}

/// Saves what the browser shows as `target/screenshots/<name>.png`.
async fn screenshot(client: &Client, name: &str) {
    let dir = common::repo_root().join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = client.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

async fn text(client: &Client) -> String {
    element_text(client, "body").await
}

/// Asserts that the text of the page the browser shows has `expected` in it.
async fn assert_shows(client: &Client, expected: &str) {
    assert_contains(&text(client).await, expected);
}

/// The text of the first element `css` finds.
async fn element_text(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Clicks the first element `css` finds (without waiting for a page).
async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Opens `path` of the app at `base`.
async fn goto(client: &Client, base: &str, path: &str) {
    client.goto(&format!("{base}{path}")).await.unwrap();
}

/// Replaces the value of the input that `css` finds with `value`.
async fn replace_value(client: &Client, css: &str, value: &str) {
    let input = client.find(Locator::Css(css)).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys(value).await.unwrap();
}

/// [`navigate`], then the text of the page the click led to.
async fn visit(client: &Client, locator: Locator<'_>) -> String {
    navigate(client, locator).await;
    text(client).await
}

/// Clicks what `locator` finds and waits until the browser shows the page
/// the click led to: a click returns before the navigation it starts.
async fn navigate(client: &Client, locator: Locator<'_>) {
    let old_page = client.find(Locator::Css("html")).await.unwrap();
    client.find(locator).await.unwrap().click().await.unwrap();
    let started = Instant::now();
    // The old document's root goes stale once the new page replaced it.
    while old_page.tag_name().await.is_ok() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the click led nowhere"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    client
        .wait()
        .for_element(Locator::Css("body"))
        .await
        .unwrap();
}

async fn sign_in(client: &Client, username: &str, password: &str) {
    for (field, value) in [("username", username), ("password", password)] {
        // After a failed attempt the form keeps the user name.
        replace_value(client, &format!("input[name={field}]"), value).await;
    }
    navigate(client, Locator::Css("form button[type=submit]")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_signs_in_manages_users_and_finds_the_audit_entry() {
    let (_driver, client, base, store, _dir) = start().await;

    goto(&client, &base, "/admin/users").await;
    assert!(client.current_url().await.unwrap().path() == "/login");
    screenshot(&client, "admin-01-login").await;

    sign_in(&client, "admin", "wrong password!").await;
    assert_shows(&client, "The user name or password is wrong.").await;
    screenshot(&client, "admin-02-wrong-password").await;

    sign_in(&client, "admin", ADMIN_PASSWORD).await;
    assert_eq!(client.current_url().await.unwrap().path(), "/admin/users");
    assert_shows(&client, "vera").await;
    screenshot(&client, "admin-03-users").await;

    for (field, value) in [("username", "grace"), ("password", "cobol compiler 1959")] {
        let css = format!("form[action='/admin/users'] input[name={field}]");
        replace_value(&client, &css, value).await;
    }
    navigate(&client, Locator::Css("form[action='/admin/users'] button")).await;
    assert_shows(&client, "User grace added.").await;
    screenshot(&client, "admin-04-user-added").await;
    assert!(
        store
            .users()
            .await
            .unwrap()
            .iter()
            .any(|u| u.username == "grace")
    );

    let connectors = visit(&client, Locator::LinkText("Connectors")).await;
    assert_contains(&connectors, "Probe");
    assert_contains(&connectors, "http://127.0.0.1:*");
    screenshot(&client, "admin-05-connectors").await;

    let audit = visit(&client, Locator::LinkText("Audit log")).await;
    assert_contains(&audit, "user.create");
    assert_contains(&audit, "user:grace");
    screenshot(&client, "admin-06-audit").await;

    navigate(&client, Locator::Css("form.signout button")).await;
    assert_eq!(client.current_url().await.unwrap().path(), "/login");
    goto(&client, &base, "/admin/users").await;
    assert_eq!(
        client.current_url().await.unwrap().path(),
        "/login",
        "signed out"
    );
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_is_refused_the_admin_pages_in_the_browser() {
    let (_driver, client, base, _store, _dir) = start().await;

    goto(&client, &base, "/login").await;
    sign_in(&client, "vera", VIEWER_PASSWORD).await;
    let home = text(&client).await;
    assert_contains(&home, "Dashboard");
    assert_contains(&home, "integrations");
    assert!(!home.contains("Audit log"), "viewers see no admin links");
    screenshot(&client, "viewer-01-dashboard").await;
    goto(&client, &base, "/integrations/create").await;
    assert_shows(&client, "This page is for admins").await;

    goto(&client, &base, "/admin/users").await;
    assert_shows(&client, "This page is for admins").await;
    screenshot(&client, "viewer-02-refused").await;
    client.close().await.unwrap();
}

/// Replaces the value of the input or text area `name`.
async fn fill(client: &Client, name: &str, value: &str) {
    replace_value(client, &format!("[name='{name}']"), value).await;
}

async fn wizard_step(client: &Client, name: &str) {
    let current = element_text(client, "ol.steps li[aria-current=step]").await;
    assert!(
        current.ends_with(name),
        "on step {current}, expected {name}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sets_up_an_integration_in_the_wizard_syncs_it_and_finds_it_everywhere() {
    let (_driver, client, base, store, _dir) = start().await;
    let dead = format!("http://127.0.0.1:{}/", common::closed_port());
    let live = common::http_answering("the peer is up").await;

    goto(&client, &base, "/login").await;
    sign_in(&client, "admin", ADMIN_PASSWORD).await;
    navigate(&client, Locator::LinkText("Integrations")).await;
    navigate(&client, Locator::LinkText("New integration")).await;
    screenshot(&client, "wizard-01-choose").await;
    navigate(&client, Locator::LinkText("Set up step by step")).await;

    wizard_step(&client, "Server").await;
    fill(&client, "cfg.url", "not a url").await;
    navigate(&client, Locator::Css("button[value=next]")).await;
    assert_shows(&client, "Enter a full URL").await;
    screenshot(&client, "wizard-02-field-message").await;
    fill(&client, "cfg.url", &dead).await;
    navigate(&client, Locator::Css("button[value=next]")).await;
    wizard_step(&client, "Credentials").await;
    fill(&client, "cfg.password", "browser-secret-42").await;
    navigate(&client, Locator::Css("button[value=next]")).await;
    wizard_step(&client, "Behaviour").await;
    fill(&client, "cfg.action", "fetch").await;
    navigate(&client, Locator::Css("button[value=next]")).await;
    wizard_step(&client, "Name and access").await;
    fill(&client, "name", "Helpdesk probe").await;
    // Allowing private addresses is per grant, a word on its line.
    assert_shows(&client, "Add the word private after one").await;
    screenshot(&client, "wizard-03-access").await;
    navigate(&client, Locator::Css("button[value=next]")).await;
    wizard_step(&client, "Test and save").await;
    let save = client
        .find(Locator::Css("button[value=save]"))
        .await
        .unwrap();
    assert_eq!(
        save.attr("disabled").await.unwrap().as_deref(),
        Some("true")
    );

    let failed = visit(&client, Locator::Css("button[value=test]")).await;
    assert_contains(&failed, "The server could not be reached");
    assert!(!failed.contains("browser-secret-42"));
    screenshot(&client, "wizard-04-test-failed").await;

    for _ in 0..4 {
        navigate(&client, Locator::Css("button[value=back]")).await;
    }
    wizard_step(&client, "Server").await;
    fill(&client, "cfg.url", &live).await;
    for _ in 0..4 {
        navigate(&client, Locator::Css("button[value=next]")).await;
    }
    navigate(&client, Locator::Css("button[value=test]")).await;
    assert_shows(&client, "Connection test passed").await;
    screenshot(&client, "wizard-05-test-passed").await;
    let detail = visit(&client, Locator::Css("button[value=save]")).await;
    assert_contains(
        &detail,
        "Integration Helpdesk probe created; its connection test passed.",
    );
    screenshot(&client, "wizard-06-detail").await;

    navigate(&client, Locator::Css("form[action$='/sync'] button")).await;
    let id = store.integrations().await.unwrap()[0].id;
    common::wait_for_syncs(&store, id).await;
    goto(&client, &base, &format!("/integrations/{id}")).await;
    assert_shows(&client, "Read 6 records in 3 pages").await;
    screenshot(&client, "wizard-07-synced").await;

    let list = visit(&client, Locator::LinkText("Integrations")).await;
    assert_contains(&list, "Helpdesk probe");
    assert_contains(&list, "succeeded");
    screenshot(&client, "wizard-08-list").await;

    navigate(&client, Locator::LinkText("Dashboard")).await;
    let active = element_text(&client, "#stat-active").await;
    assert_eq!(active, "1");
    assert!(client.find(Locator::Css(".charts svg")).await.is_ok());
    screenshot(&client, "wizard-09-dashboard").await;

    navigate(&client, Locator::LinkText("Logs")).await;
    fill(&client, "q", "6 created").await;
    let logs = visit(&client, Locator::Css("form.filters button")).await;
    assert_contains(&logs, "1 entry");
    assert_contains(&logs, "Helpdesk probe");
    screenshot(&client, "wizard-10-logs").await;

    let audit = visit(&client, Locator::LinkText("Audit log")).await;
    assert_contains(&audit, "integration.create");
    assert_contains(&audit, "integration.sync");
    assert!(!audit.contains("browser-secret-42"));
    screenshot(&client, "wizard-11-audit").await;
    client.close().await.unwrap();
}

/// Queues a sync from the integration's page: `full`, optionally a dry
/// run; waits until it ended and reloads the page.
async fn sync_from_the_page(client: &Client, store: &Store, base: &str, id: i64, dry_run: bool) {
    goto(client, base, &format!("/integrations/{id}")).await;
    click(client, "select[name=mode] option[value=full]").await;
    if dry_run {
        click(client, "input[name=dry_run]").await;
    }
    navigate(client, Locator::Css("form[action$='/sync'] button")).await;
    common::wait_for_syncs(store, id).await;
    goto(client, base, &format!("/integrations/{id}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_reads_a_dry_runs_changes_then_approves_the_deletions_a_full_sync_held() {
    let (_driver, client, base, store, _dir) = start().await;
    let peer = common::http_answering("guarded peer").await;
    let (mut admin, csrf) = common::sign_in_admin(&base).await;
    let created = admin
        .post(
            "/integrations/create?connector=probe",
            &[
                ("csrf_token", &csrf),
                ("name", "Guarded probe"),
                ("cfg.action", "fetch"),
                ("cfg.url", &peer),
                ("cfg.password", common::PROBE_SECRET),
                ("cfg.pages", "3"),
                ("http_grants", "http://127.0.0.1:* private"),
            ],
        )
        .await;
    assert_eq!(
        created.status,
        reqwest::StatusCode::SEE_OTHER,
        "{}",
        created.body
    );
    let id = store.integrations().await.unwrap()[0].id;

    goto(&client, &base, "/login").await;
    sign_in(&client, "admin", ADMIN_PASSWORD).await;
    sync_from_the_page(&client, &store, &base, id, false).await;
    assert_shows(&client, "Read 6 records in 3 pages").await;

    // Item 0 changed here since (an older copy, with a secret-like field),
    // and the remote now has two pages: items 4 and 5 are gone.
    sqlx::query(
        "UPDATE synced_records SET fields_json = $1, version = '0' WHERE integration_id = $2 AND external_id = '0'",
    )
    .bind(serde_json::json!({"name": "old item 0", "password": "old-Password-9"}).to_string())
    .bind(id)
    .execute(store.pool())
    .await
    .unwrap();
    let config = serde_json::json!({"action": "fetch", "url": peer, "pages": 2});
    sqlx::query("UPDATE integrations SET config_json = $1 WHERE id = $2")
        .bind(config.to_string())
        .bind(id)
        .execute(store.pool())
        .await
        .unwrap();

    sync_from_the_page(&client, &store, &base, id, true).await;
    navigate(
        &client,
        Locator::Css("table.logs tbody tr:first-child td a"),
    )
    .await;
    let listing = text(&client).await;
    assert_contains(&listing, "What this dry run would do");
    assert_contains(&listing, "delete 2 item");
    assert_contains(&listing, "update 1 item");
    let change = element_text(&client, "tr.dry-update .change").await;
    assert_contains(&change, "old item 0");
    assert_contains(&change, "item 0");
    let hidden = element_text(&client, "tr.dry-update").await;
    assert_contains(&hidden, "password: (hidden)");
    assert!(!listing.contains("old-Password-9"));
    assert_eq!(
        client
            .find_all(Locator::Css("tr.dry-delete"))
            .await
            .unwrap()
            .len(),
        2
    );
    screenshot(&client, "guard-01-dry-run").await;
    assert_eq!(
        store.synced_counts(id).await.unwrap()[3].1,
        6,
        "a dry run writes nothing"
    );

    // The real full sync holds the two deletions (10 % of 6 allows one).
    sync_from_the_page(&client, &store, &base, id, false).await;
    let page = text(&client).await;
    assert_contains(&page, "Deletions waiting for approval");
    assert_contains(&page, "needs_approval");
    let rows = client
        .find_all(Locator::Css("#pending-deletions tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[0].text().await.unwrap().contains("item 4"));
    screenshot(&client, "guard-02-pending").await;
    assert_eq!(store.synced_counts(id).await.unwrap()[3].1, 6);

    navigate(
        &client,
        Locator::Css("form[action$='/deletions/approve'] button"),
    )
    .await;
    let approved = text(&client).await;
    assert_contains(&approved, "Approved: the 2 records held were deleted.");
    assert!(!approved.contains("Deletions waiting for approval"));
    screenshot(&client, "guard-03-approved").await;
    assert_eq!(store.synced_counts(id).await.unwrap()[3].1, 4);
    client.close().await.unwrap();
}
