//! The settings of directory sign-in, against the real slapd of
//! `scripts/test-slapd.sh` and the real web app on a fully synced
//! `active-directory` integration: the form on the integration's page is
//! for admins with the form token, takes only synced groups and is
//! audited; and over an integration without TLS, sign-in sends no
//! password until an admin explicitly allows passwords in clear.

use cube_test_support as common;

use reqwest::StatusCode;
use serde_json::{Value, json};

use common::VIEWER_PASSWORD;
use common::client::Browser;
use common::directory_sign_in::{ADA_PASSWORD, UNREACHABLE, env};
use common::web_forms::signed_in;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_settings_are_for_admins_with_the_form_token_and_are_audited() {
    let env = env("dsi-form").await;
    let path = format!("/integrations/{}/directory-sign-in", env.integration);
    let admins = env.group("admins").await;
    let engineers = env.group("engineers").await;

    let mut viewer = Browser::new(&env.base);
    viewer.sign_in("vera", VIEWER_PASSWORD).await;
    let page = viewer
        .get(&format!("/integrations/{}", env.integration))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Directory sign-in"), "{}", page.body);
    assert!(!page.body.contains(&path), "no form for viewers");
    let csrf = viewer.csrf().await;
    let refused = viewer
        .post(
            &path,
            &[
                ("csrf_token", &csrf),
                ("enabled", "on"),
                ("admin_group", &engineers),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let (mut admin, csrf) = common::sign_in_admin(&env.base).await;
    let page = admin
        .get(&format!("/integrations/{}", env.integration))
        .await;
    assert!(page.body.contains(&path), "{}", page.body);
    assert!(page.body.contains(&format!("value=\"{admins}\"")));
    for token in ["", "forged"] {
        let forged = admin
            .post(
                &path,
                &[
                    ("csrf_token", token),
                    ("enabled", "on"),
                    ("admin_group", &engineers),
                ],
            )
            .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
    }
    assert!(
        env.store
            .directory_sign_in_settings(env.integration)
            .await
            .unwrap()
            .is_none()
    );
    // Only synced groups of this integration.
    let unknown = admin
        .post(
            &path,
            &[
                ("csrf_token", &csrf),
                ("enabled", "on"),
                ("admin_group", "not-a-group"),
            ],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::SEE_OTHER);
    assert!(unknown.location.unwrap().contains("error="));

    let saved = admin
        .post(
            &path,
            &[
                ("csrf_token", &csrf),
                ("enabled", "on"),
                ("admin_group", &engineers),
                ("viewer_group", &admins),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let shown = admin.get(saved.location.as_deref().unwrap()).await;
    assert!(
        shown
            .body
            .contains("Members of <strong>engineers</strong> sign in"),
        "{}",
        shown.body
    );
    let turned_off = admin
        .post(&path, &[("csrf_token", &csrf), ("admin_group", &engineers)])
        .await;
    assert_eq!(turned_off.status, StatusCode::SEE_OTHER);
    let settings = env
        .store
        .directory_sign_in_settings(env.integration)
        .await
        .unwrap()
        .unwrap();
    assert!(!settings.enabled);
    assert_eq!(settings.updated_by, "admin");

    let audited = env.audit("integration.directory-sign-in").await;
    assert_eq!(audited.len(), 2, "{audited:?}");
    // Newest first: on -> off, then nothing -> on.
    assert_eq!(audited[0].before.as_ref().unwrap()["enabled"], true);
    assert_eq!(audited[0].after.as_ref().unwrap()["enabled"], false);
    assert_eq!(audited[1].before.as_ref().unwrap()["enabled"], false);
    let after = audited[1].after.as_ref().unwrap();
    assert_eq!(after["admin_group"]["name"], "engineers");
    assert_eq!(after["viewer_group"]["name"], "admins");
    assert_eq!(audited[1].target, "integration:Corporate directory");

    // Turned off: ada's directory password no longer signs her in.
    let mut ada = Browser::new(&env.base);
    assert_eq!(
        ada.sign_in("ada", ADA_PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// A bind sends the password typed: over an integration without TLS it
/// would cross the network in clear. Sign-in refuses to send it until an
/// admin ticks "allow passwords in clear", and the page warns either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_without_tls_needs_the_admins_explicit_choice_and_is_flagged() {
    let env = env("dsi-plain").await;
    env.enable_sign_in("admins", None).await;
    // The integration is switched to plain LDAP on the same listener.
    let mut config = env
        .store
        .integration(env.integration)
        .await
        .unwrap()
        .unwrap()
        .config;
    config.insert("tls".into(), json!("none"));
    sqlx::query("UPDATE integrations SET config_json = $1 WHERE id = $2")
        .bind(Value::Object(config).to_string())
        .bind(env.integration)
        .execute(env.store.pool())
        .await
        .unwrap();

    let mut ada = Browser::new(&env.base);
    // A setting only an admin can fix: answered like a directory that
    // cannot be reached (local accounts still sign in).
    let refused = ada.sign_in("ada", ADA_PASSWORD).await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.body.contains(UNREACHABLE), "{}", refused.body);
    assert_eq!(env.refusal_reason("ada").await, "misconfigured");
    let refusals = env.audit("session.sign-in.directory-refused").await;
    let detail = refusals[0].after.as_ref().unwrap()["detail"].to_string();
    assert!(
        detail.contains("in clear") && detail.contains("not sent"),
        "{detail}"
    );
    let (mut admin, csrf) = common::sign_in_admin(&env.base).await;
    let page = admin
        .get(&format!("/integrations/{}", env.integration))
        .await;
    assert!(
        common::element_text(&page.body, "sign-in-in-clear").contains("without TLS"),
        "{}",
        page.body
    );

    // Saving the settings with sign-in on needs the tick.
    let admins = env.group("admins").await;
    let path = format!("/integrations/{}/directory-sign-in", env.integration);
    let mut form = vec![
        ("csrf_token", csrf.as_str()),
        ("enabled", "on"),
        ("admin_group", admins.as_str()),
        ("viewer_group", ""),
    ];
    let unticked = admin.post(&path, &form).await;
    let location = unticked.location.unwrap();
    assert!(
        location.contains("error=") && location.contains("in%20clear"),
        "{location}"
    );
    form.push(("allow_plaintext", "on"));
    let ticked = admin.post(&path, &form).await;
    assert!(!ticked.location.unwrap().contains("error="));
    signed_in(&mut ada, "ada", ADA_PASSWORD).await;
    let page = admin
        .get(&format!("/integrations/{}", env.integration))
        .await;
    let warning = &page.body[page.body.find("id=\"sign-in-in-clear\"").unwrap()..];
    let warning = &warning[..warning.find("</p>").unwrap()];
    assert!(warning.contains("sends the passwords"), "{warning}");
}
