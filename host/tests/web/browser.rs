//! The admin UI in a real browser: headless Chromium driven over WebDriver
//! (ChromeDriver), against the real server. Every page visited is saved as
//! a screenshot under `target/screenshots/` (a test artifact).

use cube_test_support as common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cube_host::store::Store;
use fantoccini::{Client, ClientBuilder, Locator};

use common::{ADMIN_PASSWORD, VIEWER_PASSWORD};

/// ChromeDriver on a free port, stopped on drop.
struct Driver {
    child: Child,
    url: String,
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
    }
}

async fn browser(driver: &Driver, profile: &std::path::Path) -> Client {
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
                format!("--user-data-dir={}", profile.display()),
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

/// The admin app with the probe connector loaded.
async fn serve() -> (String, Store, tempfile::TempDir) {
    common::serve_admin_app(common::probe_catalog().await).await
}

/// Saves what the browser shows as `target/screenshots/<name>.png`.
async fn screenshot(client: &Client, name: &str) {
    let dir = common::repo_root().join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = client.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

async fn text(client: &Client) -> String {
    client
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
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
        let input = client
            .find(Locator::Css(&format!("input[name={field}]")))
            .await
            .unwrap();
        // After a failed attempt the form keeps the user name.
        input.clear().await.unwrap();
        input.send_keys(value).await.unwrap();
    }
    navigate(client, Locator::Css("form button[type=submit]")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_signs_in_manages_users_and_finds_the_audit_entry() {
    let driver = start_driver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    let (base, store, _dir) = serve().await;

    client.goto(&format!("{base}/admin/users")).await.unwrap();
    assert!(client.current_url().await.unwrap().path() == "/login");
    screenshot(&client, "admin-01-login").await;

    sign_in(&client, "admin", "wrong password!").await;
    assert!(
        text(&client)
            .await
            .contains("The user name or password is wrong.")
    );
    screenshot(&client, "admin-02-wrong-password").await;

    sign_in(&client, "admin", ADMIN_PASSWORD).await;
    assert_eq!(client.current_url().await.unwrap().path(), "/admin/users");
    assert!(text(&client).await.contains("vera"));
    screenshot(&client, "admin-03-users").await;

    client
        .find(Locator::Css(
            "form[action='/admin/users'] input[name=username]",
        ))
        .await
        .unwrap()
        .send_keys("grace")
        .await
        .unwrap();
    client
        .find(Locator::Css(
            "form[action='/admin/users'] input[name=password]",
        ))
        .await
        .unwrap()
        .send_keys("cobol compiler 1959")
        .await
        .unwrap();
    navigate(&client, Locator::Css("form[action='/admin/users'] button")).await;
    assert!(text(&client).await.contains("User grace added."));
    screenshot(&client, "admin-04-user-added").await;
    assert!(
        store
            .users()
            .await
            .unwrap()
            .iter()
            .any(|u| u.username == "grace")
    );

    navigate(&client, Locator::LinkText("Connectors")).await;
    let connectors = text(&client).await;
    assert!(
        connectors.contains("Probe") && connectors.contains("http://127.0.0.1:*"),
        "{connectors}"
    );
    screenshot(&client, "admin-05-connectors").await;

    navigate(&client, Locator::LinkText("Audit log")).await;
    let audit = text(&client).await;
    assert!(
        audit.contains("user.create") && audit.contains("user:grace"),
        "{audit}"
    );
    screenshot(&client, "admin-06-audit").await;

    navigate(&client, Locator::Css("form.signout button")).await;
    assert_eq!(client.current_url().await.unwrap().path(), "/login");
    client.goto(&format!("{base}/admin/users")).await.unwrap();
    assert_eq!(
        client.current_url().await.unwrap().path(),
        "/login",
        "signed out"
    );
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_is_refused_the_admin_pages_in_the_browser() {
    let driver = start_driver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    let (base, _store, _dir) = serve().await;

    client.goto(&format!("{base}/login")).await.unwrap();
    sign_in(&client, "vera", VIEWER_PASSWORD).await;
    let home = text(&client).await;
    assert!(
        home.contains("Dashboard") && home.contains("integrations"),
        "{home}"
    );
    assert!(!home.contains("Audit log"), "viewers see no admin links");
    screenshot(&client, "viewer-01-dashboard").await;
    client
        .goto(&format!("{base}/integrations/create"))
        .await
        .unwrap();
    assert!(text(&client).await.contains("This page is for admins"));

    client.goto(&format!("{base}/admin/users")).await.unwrap();
    assert!(text(&client).await.contains("This page is for admins"));
    screenshot(&client, "viewer-02-refused").await;
    client.close().await.unwrap();
}

/// Replaces the value of the input or text area `name`.
async fn fill(client: &Client, name: &str, value: &str) {
    let input = client
        .find(Locator::Css(&format!("[name='{name}']")))
        .await
        .unwrap();
    input.clear().await.unwrap();
    input.send_keys(value).await.unwrap();
}

async fn wizard_step(client: &Client, name: &str) {
    let current = client
        .find(Locator::Css("ol.steps li[aria-current=step]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        current.ends_with(name),
        "on step {current}, expected {name}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sets_up_an_integration_in_the_wizard_syncs_it_and_finds_it_everywhere() {
    let driver = start_driver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    let (base, store, _dir) = serve().await;
    let dead = format!("http://127.0.0.1:{}/", common::closed_port());
    let live = common::http_answering("the peer is up").await;

    client.goto(&format!("{base}/login")).await.unwrap();
    sign_in(&client, "admin", ADMIN_PASSWORD).await;
    navigate(&client, Locator::LinkText("Integrations")).await;
    navigate(&client, Locator::LinkText("New integration")).await;
    screenshot(&client, "wizard-01-choose").await;
    navigate(&client, Locator::LinkText("Set up step by step")).await;

    wizard_step(&client, "Server").await;
    fill(&client, "cfg.url", "not a url").await;
    navigate(&client, Locator::Css("button[value=next]")).await;
    assert!(text(&client).await.contains("Enter a full URL"));
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
    assert!(
        text(&client)
            .await
            .contains("Add the word private after one")
    );
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

    navigate(&client, Locator::Css("button[value=test]")).await;
    let failed = text(&client).await;
    assert!(
        failed.contains("The server could not be reached"),
        "{failed}"
    );
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
    assert!(text(&client).await.contains("Connection test passed"));
    screenshot(&client, "wizard-05-test-passed").await;
    navigate(&client, Locator::Css("button[value=save]")).await;
    let detail = text(&client).await;
    assert!(
        detail.contains("Integration Helpdesk probe created; its connection test passed."),
        "{detail}"
    );
    screenshot(&client, "wizard-06-detail").await;

    navigate(&client, Locator::Css("form[action$='/sync'] button")).await;
    let id = store.integrations().await.unwrap()[0].id;
    common::wait_for_syncs(&store, id).await;
    client
        .goto(&format!("{base}/integrations/{id}"))
        .await
        .unwrap();
    assert!(text(&client).await.contains("Read 6 records in 3 pages"));
    screenshot(&client, "wizard-07-synced").await;

    navigate(&client, Locator::LinkText("Integrations")).await;
    let list = text(&client).await;
    assert!(
        list.contains("Helpdesk probe") && list.contains("succeeded"),
        "{list}"
    );
    screenshot(&client, "wizard-08-list").await;

    navigate(&client, Locator::LinkText("Dashboard")).await;
    let active = client
        .find(Locator::Css("#stat-active"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(active, "1");
    assert!(client.find(Locator::Css(".charts svg")).await.is_ok());
    screenshot(&client, "wizard-09-dashboard").await;

    navigate(&client, Locator::LinkText("Logs")).await;
    fill(&client, "q", "6 created").await;
    navigate(&client, Locator::Css("form.filters button")).await;
    let logs = text(&client).await;
    assert!(
        logs.contains("1 entry") && logs.contains("Helpdesk probe"),
        "{logs}"
    );
    screenshot(&client, "wizard-10-logs").await;

    navigate(&client, Locator::LinkText("Audit log")).await;
    let audit = text(&client).await;
    assert!(
        audit.contains("integration.create") && audit.contains("integration.sync"),
        "{audit}"
    );
    assert!(!audit.contains("browser-secret-42"));
    screenshot(&client, "wizard-11-audit").await;
    client.close().await.unwrap();
}

/// Queues a sync from the integration's page: `full`, optionally a dry
/// run; waits until it ended and reloads the page.
async fn sync_from_the_page(client: &Client, store: &Store, base: &str, id: i64, dry_run: bool) {
    client
        .goto(&format!("{base}/integrations/{id}"))
        .await
        .unwrap();
    client
        .find(Locator::Css("select[name=mode] option[value=full]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    if dry_run {
        client
            .find(Locator::Css("input[name=dry_run]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }
    navigate(client, Locator::Css("form[action$='/sync'] button")).await;
    common::wait_for_syncs(store, id).await;
    client
        .goto(&format!("{base}/integrations/{id}"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_reads_a_dry_runs_changes_then_approves_the_deletions_a_full_sync_held() {
    let driver = start_driver();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    let (base, store, _dir) = serve().await;
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

    client.goto(&format!("{base}/login")).await.unwrap();
    sign_in(&client, "admin", ADMIN_PASSWORD).await;
    sync_from_the_page(&client, &store, &base, id, false).await;
    assert!(text(&client).await.contains("Read 6 records in 3 pages"));

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
    assert!(listing.contains("What this dry run would do"), "{listing}");
    assert!(
        listing.contains("delete 2 item") && listing.contains("update 1 item"),
        "{listing}"
    );
    let change = client
        .find(Locator::Css("tr.dry-update .change"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        change.contains("old item 0") && change.contains("item 0"),
        "{change}"
    );
    let hidden = client
        .find(Locator::Css("tr.dry-update"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(hidden.contains("password: (hidden)"), "{hidden}");
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
    assert!(page.contains("Deletions waiting for approval"), "{page}");
    assert!(page.contains("needs_approval"), "{page}");
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
    assert!(
        approved.contains("Approved: the 2 records held were deleted."),
        "{approved}"
    );
    assert!(!approved.contains("Deletions waiting for approval"));
    screenshot(&client, "guard-03-approved").await;
    assert_eq!(store.synced_counts(id).await.unwrap()[3].1, 4);
    client.close().await.unwrap();
}
