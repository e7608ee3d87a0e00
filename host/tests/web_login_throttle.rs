//! Sign-in throttling and the password-hashing pool, over real HTTP on
//! 127.0.0.1: parallel guesses, a flood of sign-ins beside webhook intake,
//! lockout per (account, source address) and its growing backoff.

mod common;

use std::time::{Duration, Instant};

use cube_host::store::login_attempts::LoginPolicy;
use reqwest::StatusCode;

use common::ADMIN_PASSWORD;
use common::client::{Browser, hidden};

/// A sign-in form's CSRF token and the cookie that goes with it.
async fn login_form(base: &str) -> (String, String) {
    let mut browser = Browser::new(base);
    let form = browser.get("/login").await;
    (hidden(&form.body, "csrf_token"), browser.cookie_header())
}

/// Posts a sign-in with a form token fetched before.
async fn post_login(
    client: &reqwest::Client,
    base: &str,
    (csrf, cookie): &(String, String),
    username: &str,
    password: &str,
) -> StatusCode {
    client
        .post(format!("{base}/login"))
        .header("cookie", cookie)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
        .status()
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_get_no_more_tries_than_sequential_ones() {
    let (base, _store, _dir) = common::serve_admin_app(cube_host::web::Catalog::new()).await;
    let form = login_form(&base).await;
    let client = no_redirects();
    let mut guesses = tokio::task::JoinSet::new();
    for n in 0..30 {
        let (client, base, form) = (client.clone(), base.clone(), form.clone());
        guesses.spawn(async move {
            post_login(&client, &base, &form, "admin", &format!("guess number {n}")).await
        });
    }
    let mut statuses = std::collections::BTreeMap::new();
    while let Some(status) = guesses.join_next().await {
        *statuses.entry(status.unwrap().as_u16()).or_insert(0) += 1;
    }
    // A 401 is a password that was checked: a guess.
    let checked = statuses.get(&401).copied().unwrap_or(0);
    assert!(
        checked <= LoginPolicy::default().free_failures as usize,
        "30 parallel sign-ins had {checked} passwords checked: {statuses:?}"
    );
    assert_eq!(
        checked + statuses.get(&429).copied().unwrap_or(0),
        30,
        "the rest are throttled: {statuses:?}"
    );
}
