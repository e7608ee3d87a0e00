//! The integration pages over real HTTP: the generic form, the wizard, the
//! detail page's buttons, logs and dashboard, with the probe connector
//! running in the real sandbox and the real store behind. That no secret
//! is kept in plain text is in `integration_secrets.rs`.

use cube_test_support as common;

use reqwest::StatusCode;

use common::VIEWER_PASSWORD;
use common::client::Browser;

use common::PROBE_SECRET as SECRET;
use common::web_forms::{assert_contains, post_integration, tested_detail};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generic_form_explains_each_mistake_and_keeps_what_was_typed() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let (mut browser, csrf) = common::sign_in_admin(&base).await;

    let chooser = browser.get("/integrations/create").await;
    assert_contains(&chooser.body, "Probe");
    let form = browser.get("/integrations/create?connector=probe").await;
    assert_eq!(form.status, StatusCode::OK);
    assert_contains(&form.body, "name=\"cfg.url\"");
    // The connector's request that names one host is offered as the grant.
    assert_contains(&form.body, "http:&#x2f;&#x2f;127.0.0.1:*");

    let refused = browser
        .post(
            "/integrations/create?connector=probe",
            &[
                ("csrf_token", &csrf),
                ("name", ""),
                ("cfg.action", "ok"),
                ("cfg.url", "not a url"),
                ("cfg.password", SECRET),
                ("cfg.pages", "5000"),
                ("http_grants", "ftp://example.com"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    for message in [
        "Give the integration a name.",
        "Enter a full URL",
        "Enter 1000 or less.",
        "the scheme must be http or https",
    ] {
        assert!(
            refused.body.contains(message),
            "{message}: {}",
            refused.body
        );
    }
    // Typed values come back, the secret does not.
    assert!(refused.body.contains("value=\"not a url\""));
    assert!(!refused.body.contains(SECRET));
    assert_eq!(store.integrations().await.unwrap().len(), 0);

    let id = common::create_probe_integration(
        &mut browser,
        &csrf,
        "Probe one",
        "ok",
        "http://127.0.0.1:1/",
    )
    .await;
    let detail = browser.get(&format!("/integrations/{id}")).await;
    assert_eq!(detail.status, StatusCode::OK);
    assert!(detail.body.contains("Probe one"));
    assert_contains(&detail.body, ">set</span>");
    assert!(!detail.body.contains(SECRET));
    let edit = browser.get(&format!("/integrations/{id}/edit")).await;
    assert!(!edit.body.contains(SECRET));
    assert!(edit.body.contains("stored; leave empty to keep it"));

    // The same name twice is refused beside the name field.
    let again = browser
        .post(
            "/integrations/create?connector=probe",
            &[
                ("csrf_token", &csrf),
                ("name", "Probe one"),
                ("cfg.action", "ok"),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_contains(&again.body, "exists already");

    // Editing with the secret left empty keeps it; typing one replaces it.
    let kept = post_integration(
        &mut browser,
        &csrf,
        id,
        "edit",
        &[
            ("name", "Probe one"),
            ("cfg.action", "leak"),
            ("cfg.pages", "2"),
        ],
    )
    .await;
    assert_eq!(kept.status, StatusCode::SEE_OTHER, "{}", kept.body);
    let detail = tested_detail(&mut browser, &csrf, id).await;
    assert_contains(&detail.body, "The credentials were refused");
    assert!(
        !detail.body.contains(SECRET),
        "the verdict must be scrubbed"
    );
    assert_contains(&detail.body, "password [redacted] was refused");

    let audit = store.audit_entries(20).await.unwrap();
    let actions: Vec<_> = audit.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.contains(&"integration.create") && actions.contains(&"integration.update"),
        "{actions:?}"
    );
    for entry in &audit {
        let text = format!("{:?} {:?}", entry.before, entry.after);
        assert!(!text.contains(SECRET), "audit leaks the secret: {text}");
    }
}

/// Saves the integration "Fetcher" (`fetch`, granted 127.0.0.1) pointed at
/// `url`, with `extra` fields, through its edit form.
async fn edit_fetcher(
    browser: &mut Browser,
    csrf: &str,
    id: i64,
    url: &str,
    extra: &[(&str, &str)],
) -> common::client::Page {
    let mut form = vec![
        ("name", "Fetcher"),
        ("cfg.action", "fetch"),
        ("cfg.url", url),
        ("http_grants", "http://127.0.0.1:*"),
    ];
    form.extend_from_slice(extra);
    post_integration(browser, csrf, id, "edit", &form).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tests_give_verdicts_and_sync_now_lands_in_the_logs() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let (mut browser, csrf) = common::sign_in_admin(&base).await;
    let dead = format!("http://127.0.0.1:{}/", common::closed_port());
    let id = common::create_probe_integration(&mut browser, &csrf, "Fetcher", "fetch", &dead).await;

    let tested = post_integration(&mut browser, &csrf, id, "test", &[]).await;
    assert_eq!(tested.status, StatusCode::SEE_OTHER);
    let detail = browser.get(&format!("/integrations/{id}")).await;
    assert_contains(&detail.body, "The server could not be reached");
    assert!(detail.body.contains("What to check:"));

    // Outside the grant: the verdict points at the allowed destinations.
    let elsewhere = edit_fetcher(&mut browser, &csrf, id, "http://10.1.2.3:9/", &[]).await;
    assert_eq!(
        elsewhere.status,
        StatusCode::SEE_OTHER,
        "{}",
        elsewhere.body
    );
    let detail = tested_detail(&mut browser, &csrf, id).await;
    assert_contains(&detail.body, "The connector may not reach that address");

    let live = common::http_answering("hello from the peer").await;
    edit_fetcher(&mut browser, &csrf, id, &live, &[("cfg.pages", "3")]).await;
    let detail = tested_detail(&mut browser, &csrf, id).await;
    assert_contains(&detail.body, "Connection test passed");
    assert!(detail.body.contains("hello from the peer"));

    let queued = post_integration(&mut browser, &csrf, id, "sync", &[("mode", "full")]).await;
    assert_eq!(queued.status, StatusCode::SEE_OTHER);
    assert!(queued.location.unwrap().contains("Sync%20queued"));
    common::wait_for_syncs(&store, id).await;
    let synced = store.synced_counts(id).await.unwrap();
    assert!(
        synced.contains(&("other records".to_owned(), 6)),
        "{synced:?}"
    );

    let logs = browser.get("/integrations/logs?operation=sync").await;
    assert_contains(
        &logs.body,
        "Read 6 records in 3 pages: 6 created, 0 updated",
    );
    let found = browser.get("/integrations/logs?q=6+CREATED").await;
    assert_contains(&found.body, "1 entry");
    let none = browser
        .get("/integrations/logs?q=created+nowhere-to-be-found")
        .await;
    assert_contains(&none.body, "0 entries");
    let failed_tests = browser
        .get(&format!(
            "/integrations/logs?integration={id}&status=failed&operation=test"
        ))
        .await;
    assert_contains(&failed_tests.body, "2 entries");
    let bad_date = browser.get("/integrations/logs?from=yesterday").await;
    assert_contains(&bad_date.body, "must look like 2026-11-25");

    // A second full sync finds everything unchanged (same versions).
    post_integration(&mut browser, &csrf, id, "sync", &[("mode", "full")]).await;
    common::wait_for_syncs(&store, id).await;
    let logs = browser.get("/integrations/logs?operation=sync").await;
    assert_contains(
        &logs.body,
        "Read 6 records in 3 pages: 0 created, 0 updated",
    );

    let dashboard = browser.get("/integrations/dashboard").await;
    assert_eq!(dashboard.status, StatusCode::OK);
    assert_contains(&dashboard.body, "<svg");
    assert_contains(&dashboard.body, "id=\"stat-active\">1<");
    assert_contains(&dashboard.body, "id=\"stat-rate\">100%<");

    // Disabled integrations do not sync.
    post_integration(&mut browser, &csrf, id, "disable", &[]).await;
    let refused = post_integration(&mut browser, &csrf, id, "sync", &[]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("is disabled"));
    let list = browser.get("/integrations/list").await;
    assert_contains(&list.body, "inactive");

    // Deleting needs the name typed; the logs stay, marked deleted.
    for (typed, answer) in [
        ("nope", StatusCode::BAD_REQUEST),
        ("Fetcher", StatusCode::SEE_OTHER),
    ] {
        let confirm = [("confirm_name", typed)];
        let page = post_integration(&mut browser, &csrf, id, "delete", &confirm).await;
        assert_eq!(page.status, answer, "{typed}");
    }
    assert!(store.integration(id).await.unwrap().is_none());
    let logs = browser.get("/integrations/logs").await;
    assert_contains(&logs.body, "(deleted)");
    let actions = common::store_rows::audit_actions(&store, 50).await;
    for action in [
        "integration.sync",
        "integration.disable",
        "integration.delete",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} missing from {actions:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_read_integrations_but_change_nothing_and_forms_need_csrf() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let (mut browser, csrf) = common::sign_in_admin(&base).await;
    let name = "<script>alert(1)</script>";
    let id =
        common::create_probe_integration(&mut browser, &csrf, name, "ok", "http://127.0.0.1:1/")
            .await;
    post_integration(&mut browser, &csrf, id, "sync", &[]).await;
    common::wait_for_syncs(&store, id).await;

    let no_token = post_integration(&mut browser, "forged", id, "disable", &[]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    assert!(store.integration(id).await.unwrap().unwrap().enabled);
    let no_token = browser
        .post(
            "/integrations/create?connector=probe",
            &[("name", "x"), ("cfg.action", "ok")],
        )
        .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);

    let mut viewer = Browser::new(&base);
    viewer.sign_in("vera", VIEWER_PASSWORD).await;
    let viewer_csrf = viewer.csrf().await;
    for path in [
        "/integrations/list".to_owned(),
        format!("/integrations/{id}"),
        "/integrations/logs".into(),
        "/integrations/dashboard".into(),
    ] {
        let page = viewer.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(
            !page.body.contains(name),
            "{path} renders the name as markup"
        );
        assert!(
            page.body
                .contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
            "{path}: {}",
            page.body
        );
        assert!(
            !page.body.contains("Sync now"),
            "{path} offers viewers a button"
        );
    }
    for path in [
        "/integrations/create".to_owned(),
        format!("/integrations/{id}/edit"),
        format!("/integrations/{id}/delete"),
    ] {
        assert_eq!(
            viewer.get(&path).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    for action in ["sync", "test", "disable", "delete"] {
        let page = post_integration(&mut viewer, &viewer_csrf, id, action, &[]).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{action}");
    }
    assert!(store.integration(id).await.unwrap().unwrap().enabled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_sync_reports_its_progress_as_server_sent_events() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let (mut browser, csrf) = common::sign_in_admin(&base).await;
    // A peer that takes a while per page, so the sync is seen running.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow = format!("http://{}/", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(|| async {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        "slow"
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let id = common::create_probe_integration(&mut browser, &csrf, "Live", "fetch", &slow).await;
    let other =
        common::create_probe_integration(&mut browser, &csrf, "Other", "ok", "http://127.0.0.1:1/")
            .await;

    let mut stream = reqwest::Client::new()
        .get(format!("{base}/integrations/{id}/events"))
        .header("cookie", browser.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    post_integration(&mut browser, &csrf, other, "sync", &[]).await;
    common::wait_for_syncs(&store, other).await;
    post_integration(&mut browser, &csrf, id, "sync", &[("mode", "full")]).await;

    let mut seen = String::new();
    let read = async {
        while let Some(chunk) = stream.chunk().await.unwrap() {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains("\"state\":\"succeeded\"") {
                break;
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), read)
        .await
        .expect("the sync's end was announced");
    assert_contains(&seen, "event: progress");
    assert_contains(&seen, "\"pages\":1,");
    assert_contains(&seen, "\"state\":\"running\"");
    assert_contains(&seen, "Read 6 records in 3 pages");
    assert!(
        !seen.contains(&format!("\"integration_id\":{other}")),
        "another integration's progress leaked in: {seen}"
    );

    // The page loads the live view only while a sync runs.
    let page = browser.get(&format!("/integrations/{id}")).await;
    assert!(!page.body.contains("live.js"));
    let script = browser.get("/static/live.js").await;
    assert!(script.body.contains("EventSource"));
}
