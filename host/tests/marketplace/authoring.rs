//! The connector author's path, as an author walks it, with the real
//! `cube` binary: `cube plugin new` for each template, the crate's own
//! `cargo test`, `cube plugin build`, and `cube plugin test` in the real
//! sandbox (against recorded HTTP, the test slapd, and sample deliveries);
//! recording and replay; and the whole way from a key pair to a synced
//! work order through the marketplace.

use cube_test_support as common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use reqwest::Method;
use serde_json::{Value, json};

use common::client::Api;
use common::marketplace::loaded_catalog;
use common::marketplace_ui::{create_integration, install_from_the_page};
use common::plugin_cli::{cube_in, described, ok, publish_and_trust, scaffold_target};

/// `cube plugin new NAME --template TEMPLATE` in `desk`, with the
/// workspace's lock file so the crate builds from the dependencies this
/// machine already has.
fn new_crate(desk: &Path, name: &str, template: &str) -> PathBuf {
    let out = ok(cube_in(
        desk,
        &["plugin", "new", name, "--template", template],
    ));
    assert!(out.contains("src/lib.rs"), "{out}");
    let dir = desk.join(name);
    std::fs::copy(
        common::repo_root().join("Cargo.lock"),
        dir.join("Cargo.lock"),
    )
    .unwrap();
    dir
}

/// The crate's own tests, natively, as its author runs them.
fn cargo_test(dir: &Path) -> String {
    ok(
        Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .current_dir(dir)
            .args(["test", "--quiet"])
            .env("CARGO_TARGET_DIR", scaffold_target())
            .output()
            .unwrap(),
    )
}

fn passed_steps(out: &str) -> Vec<&str> {
    out.lines()
        .filter_map(|l| l.strip_prefix("ok    "))
        .map(|l| l.split(':').next().unwrap())
        .collect()
}

#[test]
fn every_template_builds_passes_its_own_tests_and_its_trial_in_the_sandbox() {
    let desk = tempfile::tempdir().unwrap();

    // REST: from the recording it ships with, no network.
    let rest = new_crate(desk.path(), "scaffold-rest", "rest");
    let tests = cargo_test(&rest);
    assert!(tests.contains("5 passed"), "{tests}");
    let built = ok(cube_in(&rest, &["plugin", "build"]));
    assert!(built.contains("scaffold-rest -> "), "{built}");
    let out = ok(cube_in(
        &rest,
        &[
            "plugin",
            "test",
            "--config",
            "config.example.json",
            "--replay",
            "recording.json",
        ],
    ));
    assert_eq!(
        passed_steps(&out),
        [
            "load",
            "info",
            "config",
            "test connection",
            "full sync",
            "incremental sync"
        ],
        "{out}"
    );
    assert!(
        out.contains("full sync: 2 records in 1 page (2 work-order)"),
        "{out}"
    );
    assert!(out.contains("incremental sync: 0 records"), "{out}");

    // LDAP: against the test directory (users, then groups, paged by two).
    let ldap = new_crate(desk.path(), "scaffold-ldap", "ldap");
    let tests = cargo_test(&ldap);
    assert!(tests.contains("4 passed"), "{tests}");
    let config = json!({
        "url": common::slapd::env("CUBE_TEST_LDAP_URL"),
        "bind_dn": common::slapd::env("CUBE_TEST_LDAP_BIND_DN"),
        "password": common::slapd::env("CUBE_TEST_LDAP_BIND_PASSWORD"),
        "base_dn": common::slapd::env("CUBE_TEST_LDAP_BASE"),
        // Other tests add thousands of users elsewhere in the tree.
        "user_filter": "(&(objectClass=inetOrgPerson)(|(uid=ada)(uid=grace)(uid=linus)))",
        "group_filter": "(&(objectClass=group)(|(cn=engineers)(cn=admins)))"
    });
    std::fs::write(ldap.join("local.json"), config.to_string()).unwrap();
    let url = common::slapd::env("CUBE_TEST_LDAP_URL");
    let args = [
        "plugin",
        "test",
        "--config",
        "local.json",
        "--allow-ldap",
        &url,
        "--page-size",
        "2",
    ];
    let out = ok(cube_in(&ldap, &args));
    assert!(
        out.contains("full sync: 5 records in 3 pages (2 group, 3 user)"),
        "{out}"
    );
    assert!(out.contains("ok    test connection: Bound to"), "{out}");
    // Without the grant, the sandbox refuses, and the trial says so.
    let denied = cube_in(&ldap, &args[..4]);
    assert_eq!(denied.status.code(), Some(1), "{}", described(&denied));
    let out = String::from_utf8_lossy(&denied.stdout);
    assert!(out.contains("FAIL  test connection:"), "{out}");
    assert!(out.contains("not granted"), "{out}");

    // Webhook: its sample delivery becomes a work order.
    let webhook = new_crate(desk.path(), "scaffold-webhook", "webhook");
    let tests = cargo_test(&webhook);
    assert!(tests.contains("5 passed"), "{tests}");
    let out = ok(cube_in(
        &webhook,
        &[
            "plugin",
            "test",
            "--config",
            "config.example.json",
            "--webhook",
            "delivery.json",
        ],
    ));
    assert!(
        out.contains("ok    webhook delivery.json: 1 record: work-order alert-17"),
        "{out}"
    );
    // A configuration the admin form would refuse fails the trial, named.
    std::fs::write(webhook.join("bad.json"), r#"{"default_priority": "soon"}"#).unwrap();
    let bad = cube_in(&webhook, &["plugin", "test", "--config", "bad.json"]);
    assert_eq!(bad.status.code(), Some(1), "{}", described(&bad));
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(out.contains("FAIL  config: default_priority:"), "{out}");
}

/// A tiny work-order API like the REST template expects, on 127.0.0.1.
#[derive(Clone, Default)]
struct Tickets {
    /// The requests' query strings, in order.
    seen: Arc<Mutex<Vec<String>>>,
}

const TOKEN: &str = "tickets-token-0451";

async fn list(
    State(tickets): State<Tickets>,
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Result<axum::Json<Value>, StatusCode> {
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {TOKEN}"))
    {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let per_page: usize = query
        .get("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(10);
    tickets
        .seen
        .lock()
        .unwrap()
        .push(format!("page={page}&per_page={per_page}"));
    let all: Vec<Value> = (1..=5)
        .map(|i| {
            json!({"id": i, "title": format!("Ticket {i}"), "status": "open",
                   "priority": if i == 3 { "high" } else { "normal" },
                   "assignee": if i == 2 { Some("grace") } else { None },
                   "updated_at": format!("2026-03-0{i}T08:00:00Z")})
        })
        .filter(|item| match query.get("updated_since") {
            Some(since) => item["updated_at"].as_str().unwrap() > since.as_str(),
            None => true,
        })
        .collect();
    let start = (page - 1) * per_page;
    Ok(axum::Json(json!(
        all.into_iter()
            .skip(start)
            .take(per_page)
            .collect::<Vec<_>>()
    )))
}

async fn serve_tickets() -> (String, Tickets) {
    let tickets = Tickets::default();
    let app = axum::Router::new()
        .route("/api/work-orders", get(list))
        .with_state(tickets.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, tickets)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_holds_no_secret_and_replays_without_the_server() {
    let (base, tickets) = serve_tickets().await;
    let desk = tempfile::tempdir().unwrap();
    let dir = desk.path().to_path_buf();
    let crate_dir = tokio::task::spawn_blocking(move || new_crate(&dir, "recorded-rest", "rest"))
        .await
        .unwrap();
    let config = json!({"base_url": format!("{base}/api"), "token": TOKEN});
    std::fs::write(crate_dir.join("local.json"), config.to_string()).unwrap();

    let run = |args: Vec<String>| {
        let dir = crate_dir.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            cube_in(&dir, &args)
        })
    };
    let record = vec![
        "plugin".into(),
        "test".into(),
        "--config".into(),
        "local.json".into(),
        "--allow-private".into(),
        base.clone(),
        "--page-size".into(),
        "2".into(),
        "--record".into(),
        "local-recording.json".into(),
    ];
    let recorded = ok(run(record).await.unwrap());
    assert!(
        recorded.contains("full sync: 5 records in 3 pages (5 work-order)"),
        "{recorded}"
    );
    assert!(recorded.contains("recorded 5 exchanges"), "{recorded}");
    let file = std::fs::read_to_string(crate_dir.join("local-recording.json")).unwrap();
    assert!(!file.contains(TOKEN), "{file}");
    let asked = tickets.seen.lock().unwrap().len();
    assert_eq!(asked, 5, "test connection, three pages, one incremental");

    // Replayed: the same verdicts, and the server is not asked again.
    let replay = vec![
        "plugin".into(),
        "test".into(),
        "--config".into(),
        "local.json".into(),
        "--page-size".into(),
        "2".into(),
        "--replay".into(),
        "local-recording.json".into(),
    ];
    let replayed = ok(run(replay.clone()).await.unwrap());
    assert!(
        replayed.contains("full sync: 5 records in 3 pages (5 work-order)"),
        "{replayed}"
    );
    assert_eq!(tickets.seen.lock().unwrap().len(), asked);

    // A request the recording cannot answer fails its step, in words.
    let mut edited: Value = serde_json::from_str(&file).unwrap();
    edited["exchanges"].as_array_mut().unwrap().remove(2);
    std::fs::write(crate_dir.join("local-recording.json"), edited.to_string()).unwrap();
    let failed = run(replay).await.unwrap();
    assert_eq!(failed.status.code(), Some(1), "{}", described(&failed));
    let out = String::from_utf8_lossy(&failed.stdout);
    assert!(out.contains("FAIL  full sync: page 2:"), "{out}");
    assert!(out.contains("the recording has no answer for GET"), "{out}");
}

/// The Rust blocks of a section of `docs/tutorial.md`.
fn tutorial_blocks(section: &str) -> Vec<String> {
    let text = std::fs::read_to_string(common::repo_root().join("docs/tutorial.md")).unwrap();
    let start = text.find(section).expect("the tutorial has the section");
    let body = &text[start + section.len()..];
    let body = &body[..body.find("\n## ").unwrap_or(body.len())];
    body.split("```rust\n")
        .skip(1)
        .map(|block| block[..block.find("```").unwrap()].to_owned())
        .collect()
}

/// Makes the edits step 2 of the tutorial describes, with its own code.
fn follow_the_tutorial(crate_dir: &Path) {
    let blocks = tutorial_blocks("## 2. Read it, then make it yours");
    assert_eq!(blocks.len(), 3, "{blocks:?}");
    let lib_path = crate_dir.join("src/lib.rs");
    let mut lib = std::fs::read_to_string(&lib_path).unwrap();
    let mut insert_before = |anchor: &str, code: &str| {
        let at = lib
            .find(anchor)
            .unwrap_or_else(|| panic!("the template has `{anchor}`"));
        lib.insert_str(at, code);
    };
    insert_before("    updated_at: String,\n}", &blocks[0]);
    insert_before(
        "    Record::builder(\"work-order\", id_text(&item.id))",
        &blocks[1],
    );
    insert_before(
        "            \"priority\": fields[\"priority\"],",
        "            \"assignee\": fields[\"assignee\"],\n",
    );
    std::fs::write(&lib_path, lib).unwrap();
    let tests_path = crate_dir.join("src/tests.rs");
    let mut tests = std::fs::read_to_string(&tests_path).unwrap();
    tests.push('\n');
    tests.push_str(&blocks[2]);
    std::fs::write(&tests_path, tests).unwrap();
}

/// Asks the server for a full sync of integration `id` through the API,
/// waits for it to end, and returns its sync log entry.
async fn full_sync(api: &Api, store: &cube_host::store::Store, id: i64) -> Value {
    let (status, job) = api
        .json(
            Method::POST,
            &format!("/api/v1/integrations/{id}/sync"),
            Some(json!({"full": true})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    common::eventually("the sync to end", async || {
        store.pending_job(id).await.unwrap().is_none().then_some(())
    })
    .await;
    let (_, logs) = api
        .json(
            Method::GET,
            &format!("/api/v1/sync-logs?integration={id}&operation=sync"),
            None,
        )
        .await;
    logs["sync_logs"][0].clone()
}

/// A host with no connector yet, started as the server starts, whose
/// marketplace lists the registry `desk/registry` (empty for now); returns
/// its base URL, its store and its data directory.
async fn host_with_an_empty_registry(
    desk: &Path,
) -> (String, cube_host::store::Store, tempfile::TempDir) {
    let registry = desk.join("registry");
    std::fs::create_dir(&registry).unwrap();
    common::serve_admin_app_with_registry(loaded_catalog(Vec::new()).await, &registry).await
}

/// Signs in as the admin, checks that the marketplace lists `id` as
/// verified, and installs its 0.1.0 from the page; returns the marketplace
/// page as it was before the install and an API client of the admin's.
async fn install_verified(base: &str, id: &str) -> (String, Api) {
    let (mut admin, csrf) = common::sign_in_admin(base).await;
    let page = admin.get("/marketplace").await;
    assert!(page.body.contains(id), "{}", page.body);
    assert!(page.body.contains(">verified<"), "{}", page.body);
    install_from_the_page(&mut admin, &csrf, id, "0.1.0", &[]).await;
    let api = Api::sign_in(base, "admin", common::ADMIN_PASSWORD).await;
    (page.body, api)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_a_key_pair_to_a_synced_work_order_through_the_marketplace() {
    let (api_base, _tickets) = serve_tickets().await;
    let desk = tempfile::tempdir().unwrap();
    let (base, store, data) = host_with_an_empty_registry(desk.path()).await;

    // The author: keys, a crate, a package, signed, published; the admin
    // trusts the publisher's key.
    let dir = desk.path().to_path_buf();
    let data_dir = data.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let crate_dir = new_crate(&dir, "acme-tickets", "rest");
        follow_the_tutorial(&crate_dir);
        let tests = cargo_test(&crate_dir);
        assert!(
            tests.contains("6 passed"),
            "the template's five and the tutorial's: {tests}"
        );
        ok(cube_in(&crate_dir, &["plugin", "build"]));
        publish_and_trust(&dir, &crate_dir, &[], "acme", &data_dir);
    })
    .await
    .unwrap();

    // The marketplace lists it as verified; the admin installs it.
    let (page, api) = install_verified(&base, "acme-tickets").await;
    assert!(page.contains("Work orders to and from a JSON REST API."));

    // Configured with the server granted (approving what it may reach),
    // tested and synced: the tickets are work orders.
    let created = create_integration(
        &api,
        json!({"name": "Acme tickets", "connector": "acme-tickets",
               "config": {"base_url": format!("{api_base}/api"), "token": TOKEN},
               "http_grants": [api_base], "allow_private": true, "enabled": true}),
    )
    .await;
    let id = created["id"].as_i64().unwrap();
    let (status, verdict) = api
        .json(
            Method::POST,
            &format!("/api/v1/integrations/{id}/test"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{verdict}");
    assert_eq!(verdict["ok"], true, "{verdict}");
    let log = full_sync(&api, &store, id).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    let orders = store.work_orders(100, 0).await.unwrap();
    let mut titles: Vec<&str> = orders.iter().map(|o| o.title.as_str()).collect();
    titles.sort();
    assert_eq!(
        titles,
        ["Ticket 1", "Ticket 2", "Ticket 3", "Ticket 4", "Ticket 5"]
    );
    let urgent = orders.iter().find(|o| o.title == "Ticket 3").unwrap();
    assert_eq!(urgent.priority, "high");
    // The field the tutorial adds comes along.
    let assigned = orders.iter().find(|o| o.title == "Ticket 2").unwrap();
    assert_eq!(assigned.assignee.as_deref(), Some("grace"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_connector_is_packed_signed_installed_from_the_marketplace_and_run() {
    let desk = tempfile::tempdir().unwrap();
    let (base, store, data) = host_with_an_empty_registry(desk.path()).await;

    // Built with componentize-py, packed from the component file.
    let dir = desk.path().to_path_buf();
    let data_dir = data.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let component = common::python_probe_wasm();
        let work = dir.join("python");
        std::fs::create_dir(&work).unwrap();
        let component = component.to_str().unwrap().to_owned();
        publish_and_trust(&dir, &work, &["--component", &component], "pyco", &data_dir);
    })
    .await
    .unwrap();

    let (_, api) = install_verified(&base, "python-probe").await;

    // Run: a sync through the sandbox stores what the Python code returned.
    let created = create_integration(
        &api,
        json!({"name": "Python", "connector": "python-probe", "config": {},
               "enabled": true}),
    )
    .await;
    let id = created["id"].as_i64().unwrap();
    let log = full_sync(&api, &store, id).await;
    assert_eq!(log["status"], "succeeded", "{log}");
    assert_eq!(log["counts"]["created"], 3, "{log}");
}
