//! The admin UI in a real browser: headless Chromium driven over WebDriver
//! (ChromeDriver), against the real server. Every page visited is saved as
//! a screenshot under `target/screenshots/` (a test artifact).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cube_host::store::Store;
use cube_host::web::Catalog;
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
    let connectors = tempfile::tempdir().unwrap();
    std::fs::write(connectors.path().join("probe.wasm"), common::probe_wasm()).unwrap();
    let catalog = Catalog::new();
    catalog
        .clone()
        .load_dirs(common::runtime(), vec![connectors.path().to_path_buf()])
        .await;
    common::serve_admin_app(catalog).await
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
    assert!(home.contains("Installed connectors"), "{home}");
    assert!(!home.contains("Audit log"), "viewers see no admin links");
    screenshot(&client, "viewer-01-connectors").await;

    client.goto(&format!("{base}/admin/users")).await.unwrap();
    assert!(text(&client).await.contains("This page is for admins"));
    screenshot(&client, "viewer-02-refused").await;
    client.close().await.unwrap();
}
