//! The deletion guard over real HTTP: the threshold in the JSON API and
//! the edit form (validated, audited), a full sync that holds deletions
//! (the job and its log say `needs_approval`), the pending list through
//! the API and on the integration's page, approve and discard (admins only,
//! CSRF-checked, audited, refused when the list was replaced).

use cube_test_support as common;

use reqwest::StatusCode;
use serde_json::{Value, json};

use common::client::Api;
use common::web_forms::assert_contains;
use common::{ADMIN_PASSWORD, VIEWER_PASSWORD};

/// The probe reading `pages` pages of two items from `peer`.
fn integration(peer: &str, pages: u32, limits: Option<Value>) -> Value {
    let mut body = json!({"name": "Guarded", "connector": "probe",
        "config": {"action": "fetch", "url": peer, "password": "pw-Guarded-1", "pages": pages},
        "http_grants": [{"pattern": "http://127.0.0.1:*", "allow_private": true}]});
    if let Some(limits) = limits {
        body["deletion_limits"] = limits;
    }
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_deletions_are_listed_and_approved_or_discarded_through_the_api_and_the_page() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let api = Api::sign_in(&base, "admin", ADMIN_PASSWORD).await;
    let peer = common::http_answering("guarded peer").await;

    // The threshold is validated like every field.
    for (limits, field) in [
        (json!({"max_objects": -1}), "deletion_max_objects"),
        (json!({"max_percent": 101}), "deletion_max_percent"),
    ] {
        let (status, body) = api
            .post(
                "/api/v1/integrations",
                Some(integration(&peer, 3, Some(limits))),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            body["error"]["fields"][field]
                .as_str()
                .is_some_and(|m| m.contains("0 (no limit)")),
            "{body}"
        );
    }
    // Left out, it takes the defaults.
    let (status, created) = api
        .post("/api/v1/integrations", Some(integration(&peer, 3, None)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["deletion_limits"],
        json!({"max_objects": 500, "max_percent": 10})
    );
    let id = created["id"].as_i64().unwrap();
    assert_eq!(api.full_sync(&store, id).await["status"], "succeeded");

    // Two pages now: 2 of 6 items unseen, more than 10 % (1) allows.
    let (status, replaced) = api
        .put(
            &format!("/api/v1/integrations/{id}"),
            integration(&peer, 2, None),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    let held = api.full_sync(&store, id).await;
    assert_eq!(held["status"], "needs_approval", "{held}");
    let held_job = held["id"].as_i64().unwrap();
    let (_, logs) = api
        .get(&format!(
            "/api/v1/sync-logs?integration={id}&status=needs_approval"
        ))
        .await;
    assert_eq!(logs["total"], 1, "{logs}");
    assert_eq!(logs["sync_logs"][0]["counts"]["deleted"], 0);
    assert_eq!(store.synced_counts(id).await.unwrap()[3].1, 6);

    let (status, pending) = api
        .get(&format!(
            "/api/v1/integrations/{id}/pending-deletions?limit=1"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(pending["pending"]["job_id"], held_job);
    assert_eq!(pending["pending"]["total"], 2);
    assert_eq!(pending["pending"]["items"].as_array().unwrap().len(), 1);
    assert_eq!(pending["pending"]["items"][0]["kind"], "item");

    // A viewer sees the list on the page but cannot decide.
    let viewer = Api::sign_in(&base, "vera", VIEWER_PASSWORD).await;
    let (status, _) = viewer
        .post(
            &format!("/api/v1/integrations/{id}/pending-deletions/approve"),
            Some(json!({"job": held_job})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut vera = common::client::Browser::new(&base);
    vera.sign_in("vera", VIEWER_PASSWORD).await;
    let page = vera.get(&format!("/integrations/{id}")).await;
    assert_contains(&page.body, "id=\"pending-deletions\"");
    assert!(!page.body.contains("/deletions/approve"), "no buttons");

    // The page's Discard: CSRF-checked, then the items stay.
    let (mut admin, csrf) = common::sign_in_admin(&base).await;
    let page = admin.get(&format!("/integrations/{id}")).await;
    assert!(page.body.contains("Deletions waiting for approval"));
    assert!(page.body.contains("needs_approval"), "the log says so");
    let forged = admin
        .post(
            &format!("/integrations/{id}/deletions/discard"),
            &[("csrf_token", "forged"), ("job", &held_job.to_string())],
        )
        .await;
    assert_ne!(forged.status, StatusCode::SEE_OTHER);
    assert!(store.pending_deletions(id, 0, 10).await.unwrap().is_some());
    let discarded = admin
        .post(
            &format!("/integrations/{id}/deletions/discard"),
            &[("csrf_token", &csrf), ("job", &held_job.to_string())],
        )
        .await;
    assert_eq!(
        discarded.status,
        StatusCode::SEE_OTHER,
        "{}",
        discarded.body
    );
    let page = admin.get(discarded.location.as_deref().unwrap()).await;
    assert_contains(&page.body, "Discarded: the 2 records held are kept.");
    assert!(!page.body.contains("id=\"pending-deletions\""));
    assert_eq!(store.synced_counts(id).await.unwrap()[3].1, 6);
    let (_, job) = api.get(&format!("/api/v1/jobs/{held_job}")).await;
    assert_eq!(job["status"], "discarded");

    // Held again; approving a list that is not the current one is refused.
    let again = api.full_sync(&store, id).await;
    assert_eq!(again["status"], "needs_approval");
    let (status, body) = api
        .post(
            &format!("/api/v1/integrations/{id}/pending-deletions/approve"),
            Some(json!({"job": held_job})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("review the list again")),
        "{body}"
    );
    let (status, decided) = api
        .post(
            &format!("/api/v1/integrations/{id}/pending-deletions/approve"),
            Some(json!({"job": again["id"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!(
        (decided["pending"].as_i64(), decided["deleted"].as_i64()),
        (Some(2), Some(2))
    );
    assert_eq!(store.synced_counts(id).await.unwrap()[3].1, 4);
    let (_, pending) = api
        .get(&format!("/api/v1/integrations/{id}/pending-deletions"))
        .await;
    assert_eq!(pending["pending"], Value::Null);

    // Both decisions are audited: who, and how many.
    let audit = store.audit_entries(50).await.unwrap();
    let find = |action: &str| {
        audit
            .iter()
            .find(|e| e.action == action)
            .unwrap_or_else(|| panic!("no {action} in {audit:?}"))
    };
    let approved = find("integration.deletions.approve");
    assert_eq!(approved.actor, "admin");
    assert_eq!(approved.after.as_ref().unwrap()["deleted"], 2);
    let kept = find("integration.deletions.discard");
    assert_eq!(kept.after.as_ref().unwrap()["kept"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edit_form_shows_validates_and_audits_the_threshold() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let (mut admin, csrf) = common::sign_in_admin(&base).await;
    let id = common::create_probe_integration(&mut admin, &csrf, "Edited", "ok", "").await;
    let form = admin.get(&format!("/integrations/{id}/edit")).await;
    assert_contains(&form.body, "name=\"deletion_max_objects\" value=\"500\"");
    let fields = |objects: &'static str, percent: &'static str| {
        vec![
            ("csrf_token", csrf.clone()),
            ("name", "Edited".to_owned()),
            ("cfg.action", "ok".to_owned()),
            ("cfg.pages", "3".to_owned()),
            ("http_grants", "http://127.0.0.1:*".to_owned()),
            ("deletion_max_objects", objects.to_owned()),
            ("deletion_max_percent", percent.to_owned()),
        ]
    };
    let wrong = admin
        .post_owned(&format!("/integrations/{id}/edit"), &fields("many", "150"))
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_contains(
        &wrong.body,
        "Enter a whole percentage from 0 (no limit) to 100",
    );
    assert!(wrong.body.contains("Enter a whole number of records"));
    let saved = admin
        .post_owned(&format!("/integrations/{id}/edit"), &fields("0", "25"))
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let limits = store.deletion_limits(id).await.unwrap();
    assert_eq!((limits.max_objects, limits.max_percent), (0, 25));
    let page = admin.get(&format!("/integrations/{id}")).await;
    assert!(
        common::element_text(&page.body, "deletion-threshold").contains("25 % of the records held"),
        "{}",
        page.body
    );
    let audit = store.audit_entries(10).await.unwrap();
    let update = audit
        .iter()
        .find(|e| e.action == "integration.update")
        .unwrap();
    assert_eq!(
        update.before.as_ref().unwrap()["deletion_limits"],
        json!({"max_objects": 500, "max_percent": 10})
    );
    assert_eq!(
        update.after.as_ref().unwrap()["deletion_limits"],
        json!({"max_objects": 0, "max_percent": 25})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_runs_listing_is_read_through_the_api_with_the_changed_fields() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let api = Api::sign_in(&base, "admin", ADMIN_PASSWORD).await;
    let peer = common::http_answering("previewed peer").await;
    let (_, created) = api
        .post("/api/v1/integrations", Some(integration(&peer, 2, None)))
        .await;
    let id = created["id"].as_i64().unwrap();
    assert_eq!(api.full_sync(&store, id).await["status"], "succeeded");
    sqlx::query(
        "UPDATE synced_records SET fields_json = $1, version = '0' WHERE integration_id = $2 AND external_id = '1'",
    )
    .bind(json!({"name": "before", "secret_key": "k-1234"}).to_string())
    .bind(id)
    .execute(store.pool())
    .await
    .unwrap();

    let job = api
        .sync_and_wait(&store, id, json!({"full": true, "dry_run": true}))
        .await;
    let (status, body) = api.get(&format!("/api/v1/jobs/{job}/dry-run")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["job"]["status"], "succeeded");
    let listing = &body["listing"];
    assert_eq!(
        (listing["listed"].as_i64(), listing["more"].as_i64()),
        (Some(1), Some(0))
    );
    let item = &listing["items"][0];
    assert_eq!(
        (item["action"].as_str(), item["external_id"].as_str()),
        (Some("update"), Some("1"))
    );
    assert_eq!(
        item["changes"],
        json!([
            {"field": "name", "old": "before", "new": "item 1"},
            {"field": "secret_key", "old": "(hidden)", "new": null},
        ])
    );
    assert!(!body.to_string().contains("k-1234"));
    // A job that is not a dry run lists nothing.
    let (_, none) = api.get("/api/v1/jobs/1/dry-run").await;
    assert_eq!(none["listing"], Value::Null);
    let (status, _) = api.get("/api/v1/jobs/999/dry-run").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
