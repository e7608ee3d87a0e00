//! The server's edge over real HTTP: what logs keep of failed sign-ins,
//! `Secure` cookies behind a trusted https proxy, the `/metrics` token, and
//! live-progress streams that end with their session.

use cube_test_support as common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cube_host::store::Store;
use cube_host::web::access::{Access, parse_proxy};
use reqwest::StatusCode;
use reqwest::header::SET_COOKIE;

use common::client::{Browser, hidden};
use common::web_forms::assert_contains;
use common::{ADMIN_PASSWORD, VIEWER_PASSWORD};

async fn serve_with(access: Access, secure: bool) -> (String, Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).await.unwrap();
    let base = common::serve_admin_app_full(
        cube_host::web::Catalog::new(),
        store.clone(),
        None,
        None,
        access,
        secure,
    )
    .await;
    (base, store, dir)
}

/// Everything the host logs, kept for the test to read.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn failed_sign_ins_are_logged_without_the_name_typed() {
    // The server runs on this test's own (current-thread) runtime, so a
    // subscriber set as this thread's default sees everything it logs, even
    // when other tests of the suite share the process (`cargo test`) and one
    // of them has set the global subscriber.
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("cube_host=debug")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _logged_here = tracing::subscriber::set_default(subscriber);
    let access = Access::new(common::rand_key());
    let pseudonym = access.pseudonym("correct-horse-typed-as-name");
    let (base, _store, _dir) = serve_with(access, false).await;
    let mut browser = Browser::new(&base);
    for _ in 0..6 {
        browser
            .sign_in("correct-horse-typed-as-name", "whatever")
            .await;
    }
    let text = logs.text();
    assert_contains(&text, "failed sign-in");
    assert_contains(&text, "sign-in throttled");
    assert!(text.contains(&pseudonym), "the pseudonym is logged: {text}");
    assert!(
        !text.to_lowercase().contains("correct-horse"),
        "the name typed is not: {text}"
    );
}

/// The `Set-Cookie` values of a response.
fn cookies(page: &common::client::Page) -> Vec<String> {
    page.headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// Signs in as admin with `headers` on both requests; the cookies set.
async fn sign_in_cookies(base: &str, headers: &[(&str, &str)]) -> (Vec<String>, Vec<String>) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let with = |mut request: reqwest::RequestBuilder| {
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request
    };
    let form = with(client.get(format!("{base}/login")))
        .send()
        .await
        .unwrap();
    let form_cookies: Vec<String> = form
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let csrf_cookie = form_cookies[0].split(';').next().unwrap().to_owned();
    let csrf = hidden(&form.text().await.unwrap(), "csrf_token");
    let signed_in = with(client.post(format!("{base}/login")))
        .header("cookie", csrf_cookie)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("username", "admin"),
            ("password", ADMIN_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let session_cookies = signed_in
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    (form_cookies, session_cookies)
}

fn all_secure(cookies: &[String]) -> bool {
    !cookies.is_empty() && cookies.iter().all(|c| c.ends_with("; Secure"))
}

fn none_secure(cookies: &[String]) -> bool {
    !cookies.is_empty() && cookies.iter().all(|c| !c.contains("Secure"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_are_secure_behind_a_trusted_https_proxy_or_when_configured() {
    let https = [("x-forwarded-proto", "https")];
    // Behind a trusted proxy: Secure when it says https, not otherwise.
    let mut access = Access::new(common::rand_key());
    access.trusted_proxies = vec![parse_proxy("127.0.0.0/8").unwrap()].into();
    let (base, _store, _dir) = serve_with(access, false).await;
    let (form, session) = sign_in_cookies(&base, &https).await;
    assert!(
        all_secure(&form) && all_secure(&session),
        "{form:?} {session:?}"
    );
    let (form, session) = sign_in_cookies(&base, &[("x-forwarded-proto", "http")]).await;
    assert!(
        none_secure(&form) && none_secure(&session),
        "{form:?} {session:?}"
    );

    // Anyone else's X-Forwarded-Proto changes nothing.
    let (base, _store, _dir) = serve_with(Access::new(common::rand_key()), false).await;
    let (form, session) = sign_in_cookies(&base, &https).await;
    assert!(
        none_secure(&form) && none_secure(&session),
        "{form:?} {session:?}"
    );

    // --secure-cookies (or an https public URL): always.
    let (base, _store, _dir) = serve_with(Access::new(common::rand_key()), true).await;
    let (form, session) = sign_in_cookies(&base, &[]).await;
    assert!(
        all_secure(&form) && all_secure(&session),
        "{form:?} {session:?}"
    );

    // Signing out clears the cookie with the same attributes.
    let mut browser = Browser::new(&base);
    browser.sign_in("vera", VIEWER_PASSWORD).await;
    let csrf = browser.csrf().await;
    let out = browser.post("/logout", &[("csrf_token", &csrf)]).await;
    assert!(all_secure(&cookies(&out)), "{:?}", cookies(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_want_the_token_when_one_is_configured() {
    let http = reqwest::Client::new();
    let (open, _store, _dir) = serve_with(Access::new(common::rand_key()), false).await;
    let answer = http.get(format!("{open}/metrics")).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK, "open without a token");

    let mut access = Access::new(common::rand_key());
    access.metrics_token = Some("a-long-random-metrics-token".into());
    let (base, _store, _dir) = serve_with(access, false).await;
    let url = format!("{base}/metrics");
    let answer = http.get(&url).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    assert!(answer.headers().contains_key("www-authenticate"));
    for wrong in [
        "Bearer a-long-random-metrics-toke",
        "Bearer a-long-random-metrics-token-and-more",
        "Basic a-long-random-metrics-token",
        "a-long-random-metrics-token",
    ] {
        let answer = http
            .get(&url)
            .header("authorization", wrong)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "{wrong}");
    }
    let answer = http
        .get(&url)
        .header("authorization", "Bearer a-long-random-metrics-token")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert!(answer.text().await.unwrap().contains("cube_"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_progress_ends_when_the_session_does() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let (mut browser, csrf) = common::sign_in_admin(&base).await;
    let id = common::create_probe_integration(&mut browser, &csrf, "Live", "ok", "").await;

    // Signed out here, and signed out by someone else (everywhere, or the
    // account removed): each stream ends with a `session-ended` event.
    for how in ["logout", "logout-everywhere", "user-deleted"] {
        let mut viewer = Browser::new(&base);
        viewer.sign_in("vera", VIEWER_PASSWORD).await;
        let mut stream = reqwest::Client::new()
            .get(format!("{base}/integrations/{id}/events"))
            .header("cookie", viewer.cookie_header())
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status(), StatusCode::OK, "{how}");
        // The stream stays open while the session lives.
        let early = tokio::time::timeout(Duration::from_millis(2500), stream.chunk()).await;
        assert!(
            early.is_err() || matches!(early, Ok(Ok(Some(_)))),
            "{how}: the stream is open: {early:?}"
        );
        match how {
            "logout" => {
                let csrf = viewer.csrf().await;
                viewer.post("/logout", &[("csrf_token", &csrf)]).await;
            }
            "logout-everywhere" => {
                let csrf = viewer.csrf().await;
                viewer
                    .post("/logout/everywhere", &[("csrf_token", &csrf)])
                    .await;
            }
            _ => {
                let vera = store
                    .users()
                    .await
                    .unwrap()
                    .into_iter()
                    .find(|u| u.username == "vera")
                    .unwrap();
                store.delete_user(vera.id).await.unwrap();
            }
        }
        let mut received = String::new();
        let ended = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(chunk) = stream.chunk().await.unwrap() {
                received.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await;
        assert!(ended.is_ok(), "{how}: the stream did not end: {received}");
        assert!(
            received.contains("event: session-ended"),
            "{how}: {received}"
        );
        if how == "user-deleted" {
            break;
        }
    }
}
