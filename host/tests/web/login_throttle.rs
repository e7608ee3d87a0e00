//! Sign-in throttling and the password-hashing pool, over real HTTP on
//! 127.0.0.1: parallel guesses, a flood of sign-ins beside webhook intake,
//! lockout per (account, source address) and its growing backoff.

use cube_test_support as common;

use std::time::{Duration, Instant};

use cube_host::store::Store;
use cube_host::store::login_attempts::LoginPolicy;
use cube_host::web::access::{Access, parse_proxy};
use cube_host::web::passwords::PasswordPool;
use cube_host::webhooks::signature::sign_cube;
use reqwest::StatusCode;

use common::ADMIN_PASSWORD;
use common::client::{Browser, hidden};
use common::web_forms::post_integration;

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
    form: &(String, String),
    username: &str,
    password: &str,
) -> StatusCode {
    login_response(client, base, form, username, password, None)
        .await
        .status()
}

/// [`post_login`], optionally with an `X-Forwarded-For`, whole.
async fn login_response(
    client: &reqwest::Client,
    base: &str,
    (csrf, cookie): &(String, String),
    username: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut request = client
        .post(format!("{base}/login"))
        .header("cookie", cookie)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("username", username),
            ("password", password),
        ]);
    if let Some(forwarded_for) = forwarded_for {
        request = request.header("x-forwarded-for", forwarded_for);
    }
    request.send().await.unwrap()
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A client whose connections come from `ip` (any 127.0.0.0/8 address
/// reaches the server on 127.0.0.1): another source, for real.
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(ip.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// The admin app with edge settings of the test's own.
async fn serve_with(access: Access) -> (String, Store, tempfile::TempDir) {
    serve_catalog_with(cube_host::web::Catalog::new(), access).await
}

async fn serve_catalog_with(
    catalog: cube_host::web::Catalog,
    access: Access,
) -> (String, Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).await.unwrap();
    let base =
        common::serve_admin_app_full(catalog, store.clone(), None, None, access, false).await;
    (base, store, dir)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_backed_off_does_not_lock_the_account_for_other_sources() {
    let (base, store, _dir) = common::serve_admin_app(cube_host::web::Catalog::new()).await;
    let form = login_form(&base).await;
    let attacker = client_from("127.0.0.1");
    for n in 0..5 {
        let status = post_login(&attacker, &base, &form, "admin", &format!("guess {n}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // The attacker's source is backed off, even with the right password,
    // and hears so only after the refusal delay: sending again at once
    // gets it nowhere faster...
    let started = Instant::now();
    assert_eq!(
        post_login(&attacker, &base, &form, "admin", ADMIN_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let took = started.elapsed();
    assert!(
        took >= Access::new(common::rand_key()).refusal_delay,
        "a throttled sign-in answered after {took:?}"
    );
    // ...while the admin, from another address, signs in.
    let admin = client_from("127.0.0.7");
    assert_eq!(
        post_login(&admin, &base, &form, "admin", ADMIN_PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    let (failures, _) = store
        .login_attempts("admin", "127.0.0.1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(failures, 5, "refused attempts are not counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_addresses_count_only_from_a_trusted_proxy() {
    // Trusted: the proxy (127.0.0.1) says who the client is.
    let mut access = Access::new(common::rand_key());
    access.trusted_proxies = vec![parse_proxy("127.0.0.1").unwrap()].into();
    let (base, _store, _dir) = serve_with(access).await;
    let form = login_form(&base).await;
    let proxy = no_redirects();
    let status = async |password: &str, from: &str| {
        admin_login_status(&proxy, &base, &form, password, from).await
    };
    for n in 0..5 {
        let page = status(&format!("guess {n}"), "203.0.113.1").await;
        assert_eq!(page, StatusCode::UNAUTHORIZED);
    }
    let refused = status(ADMIN_PASSWORD, "203.0.113.1").await;
    assert_eq!(refused, StatusCode::TOO_MANY_REQUESTS);
    let other = status(ADMIN_PASSWORD, "203.0.113.2").await;
    assert_eq!(other, StatusCode::SEE_OTHER);

    // Untrusted: a client writing its own X-Forwarded-For is still itself.
    let (base, _store, _dir) = common::serve_admin_app(cube_host::web::Catalog::new()).await;
    let form = login_form(&base).await;
    let client = no_redirects();
    let status = async |password: &str, from: &str| {
        admin_login_status(&client, &base, &form, password, from).await
    };
    for n in 0..5 {
        let forged = format!("198.51.100.{n}");
        let page = status(&format!("guess {n}"), &forged).await;
        assert_eq!(page, StatusCode::UNAUTHORIZED);
    }
    let forged = status(ADMIN_PASSWORD, "198.51.100.99").await;
    assert_eq!(forged, StatusCode::TOO_MANY_REQUESTS);
}

/// The status [`login_response`] answers `admin`'s sign-in with
/// `password` that says it comes from `forwarded_for`.
async fn admin_login_status(
    client: &reqwest::Client,
    base: &str,
    form: &(String, String),
    password: &str,
    forwarded_for: &str,
) -> StatusCode {
    login_response(client, base, form, "admin", password, Some(forwarded_for))
        .await
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_attempt_past_the_free_ones_doubles_the_wait() {
    let mut access = Access::new(common::rand_key());
    access.login_policy = LoginPolicy {
        free_failures: 2,
        first_backoff_ms: 1_000,
        ..LoginPolicy::default()
    };
    let (base, _store, _dir) = serve_with(access).await;
    let form = login_form(&base).await;
    let client = no_redirects();
    let retry_after = |response: &reqwest::Response| -> u64 {
        response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    // Two free guesses, then each one blocks the next for twice as long.
    for n in 0..2 {
        let page = login_response(&client, &base, &form, "admin", &format!("free {n}"), None).await;
        assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
    }
    let mut waits = Vec::new();
    for n in 0..3 {
        let page =
            login_response(&client, &base, &form, "admin", &format!("guess {n}"), None).await;
        assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
        let wait = retry_after(&page);
        waits.push(wait);
        tokio::time::sleep(Duration::from_millis(wait * 1000 + 50)).await;
        let page =
            login_response(&client, &base, &form, "admin", &format!("guess {n}"), None).await;
        assert_eq!(
            page.status(),
            StatusCode::UNAUTHORIZED,
            "admitted after the wait"
        );
    }
    assert_eq!(waits, vec![1, 2, 4], "the wait doubles");
}

/// An integration with a webhook endpoint (202 once stored); its URL and
/// secret.
async fn webhook(base: &str) -> (String, String) {
    let (mut browser, csrf) = common::sign_in_admin(base).await;
    let id = common::create_probe_integration(&mut browser, &csrf, "Hooked", "ok", "").await;
    let page = post_integration(
        &mut browser,
        &csrf,
        id,
        "webhooks",
        &[("scheme", "cube-hmac-sha256")],
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    (
        common::element_text(&page.body, "webhook-url"),
        common::element_text(&page.body, "webhook-secret"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_sign_ins_gets_503_after_the_refusal_delay_while_webhook_intake_answers() {
    let mut access = Access::new(common::rand_key());
    // One check at a time, eight waiting; no throttling in the way.
    access.passwords = PasswordPool::new(1, 8);
    let delay = Duration::from_millis(400);
    access.refusal_delay = delay;
    access.login_policy = LoginPolicy {
        free_failures: 1_000_000,
        free_failures_per_source: 1_000_000,
        ..LoginPolicy::default()
    };
    let (base, _store, _dir) = serve_catalog_with(common::probe_catalog().await, access).await;
    let (url, secret) = webhook(&base).await;
    let form = login_form(&base).await;

    // 300 clients posting bad sign-ins for three seconds, each sending
    // again as soon as it is answered.
    let flood_until = Instant::now() + Duration::from_secs(3);
    let mut flood = tokio::task::JoinSet::new();
    for n in 0..300 {
        let (base, form) = (base.clone(), form.clone());
        flood.spawn(async move {
            let client = no_redirects();
            let mut answers = Vec::new();
            while Instant::now() < flood_until {
                let started = Instant::now();
                let status =
                    post_login(&client, &base, &form, "admin", &format!("guess {n}")).await;
                answers.push((status, started.elapsed()));
            }
            answers
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Meanwhile, a sender delivers webhooks one after another.
    let sender = reqwest::Client::new();
    let mut intake = Vec::new();
    let mut n = 0;
    while Instant::now() + Duration::from_millis(300) < flood_until {
        let (delivery, body, ts) = (
            format!("d-{n}"),
            r#"{"items": []}"#,
            cube_host::store::now_millis() / 1000,
        );
        let started = Instant::now();
        let status = sender
            .post(&url)
            .header("content-type", "application/json")
            .header("x-cube-timestamp", ts.to_string())
            .header(
                "x-cube-signature",
                sign_cube(secret.as_bytes(), ts, &delivery, body.as_bytes()),
            )
            .header("x-cube-delivery", &delivery)
            .body(body)
            .send()
            .await
            .unwrap()
            .status();
        intake.push((status, started.elapsed()));
        n += 1;
    }
    let mut answers = Vec::new();
    while let Some(done) = flood.join_next().await {
        answers.extend(done.unwrap());
    }
    let busy: Vec<Duration> = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::SERVICE_UNAVAILABLE)
        .map(|(_, took)| *took)
        .collect();
    let checked = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::UNAUTHORIZED)
        .count();
    assert!(
        busy.len() > answers.len() / 2,
        "most of the flood is turned away: {} of {} busy, {checked} checked",
        busy.len(),
        answers.len()
    );
    assert!(
        answers.iter().all(|(s, _)| matches!(
            *s,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::UNAUTHORIZED
        )),
        "only 503 and 401"
    );
    let p99 = |mut times: Vec<Duration>| {
        times.sort();
        times[(times.len() * 99 / 100).min(times.len() - 1)]
    };
    let busy_p99 = p99(busy.clone());
    let intake_p99 = p99(intake.iter().map(|(_, took)| *took).collect());
    println!(
        "{} sign-ins: {} busy (p50 {:?}, p99 {busy_p99:?}), {checked} checked; \
         {} deliveries meanwhile: p99 {intake_p99:?}",
        answers.len(),
        busy.len(),
        p99_of(&busy, 50),
        intake.len()
    );
    // No refusal comes sooner than the delay, so each client is held to
    // one attempt per delay: at most eight in three seconds. Answered at
    // once, the same clients sent thousands a second.
    let fastest = busy.iter().min().copied().unwrap();
    assert!(fastest >= delay, "a 503 came after {fastest:?}");
    assert!(
        busy.len() <= 300 * 8,
        "{} refusals from 300 clients in 3 s",
        busy.len()
    );
    // Far below what checking them would take (300 checks of ~50 ms of
    // CPU each on one thread: 15 s), with room for a test machine that is
    // busy with other work.
    let busy_p50 = p99_of(&busy, 50);
    assert!(
        busy_p50 < delay + Duration::from_millis(500)
            && busy_p99 < delay + Duration::from_millis(2500),
        "503s come after the delay, not after the checks: p50 {busy_p50:?}, p99 {busy_p99:?}"
    );
    assert!(intake.len() >= 5, "{} deliveries", intake.len());
    assert!(
        intake
            .iter()
            .all(|(status, _)| *status == StatusCode::ACCEPTED),
        "{intake:?}"
    );
    assert!(
        intake_p99 < Duration::from_millis(1500),
        "webhook intake answers during the flood: p99 {intake_p99:?} over {} deliveries",
        intake.len()
    );
}

/// The `pct`-th percentile of `times`.
fn p99_of(times: &[Duration], pct: usize) -> Duration {
    let mut times = times.to_vec();
    times.sort();
    times[(times.len() * pct / 100).min(times.len() - 1)]
}
