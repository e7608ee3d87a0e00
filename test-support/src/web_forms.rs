//! The admin app's HTML forms as the web tests fill them: a setup wizard
//! stepped through with its draft, the buttons of an integration's page,
//! and what a rendered page shows; and the sign-in form.

use reqwest::StatusCode;

use crate::client::{Browser, Page, hidden};

/// Asserts that `body` contains `text`; shows the body when it does not.
pub fn assert_contains(body: &str, text: &str) {
    assert!(body.contains(text), "no {text:?} in {body}");
}

/// Signs `browser` in as `username` with `password`, which must succeed
/// (a redirect away from the sign-in page); returns the answer.
pub async fn signed_in(browser: &mut Browser, username: &str, password: &str) -> Page {
    let page = browser.sign_in(username, password).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    page
}

/// Asserts that the wizard page `body` is on the step called `step`.
pub fn assert_step(body: &str, step: &str) {
    assert_contains(body, &format!("aria-current=\"step\">{step}<"));
}

/// A page's body with `/` and `=` unescaped, for reading URLs and DNs in it.
pub fn unescaped(body: &str) -> String {
    body.replace("&#x2f;", "/").replace("&#x3d;", "=")
}

/// A setup wizard (`/integrations/create/CONNECTOR`) in progress: each post
/// carries the session's CSRF token and the draft the server keeps.
pub struct Wizard<'a> {
    browser: &'a mut Browser,
    url: String,
    csrf: String,
    draft: String,
}

impl<'a> Wizard<'a> {
    /// Posts the first step's `fields` to the wizard at `url` as a new
    /// draft, and goes on with the draft the answer carries; returns the
    /// wizard and that answer.
    pub async fn start(
        browser: &'a mut Browser,
        url: &str,
        csrf: &str,
        fields: &[(&str, &str)],
    ) -> (Wizard<'a>, Page) {
        let page = post_step(browser, url, csrf, "", "0", "next", fields).await;
        let draft = hidden(&page.body, "draft");
        let wizard = Wizard {
            browser,
            url: url.to_owned(),
            csrf: csrf.to_owned(),
            draft,
        };
        (wizard, page)
    }

    /// Posts `fields` on step `step` with the button `nav` (`next`, `back`,
    /// `test`, `save`...).
    pub async fn post(&mut self, step: &str, nav: &str, fields: &[(&str, &str)]) -> Page {
        post_step(
            self.browser,
            &self.url,
            &self.csrf,
            &self.draft,
            step,
            nav,
            fields,
        )
        .await
    }
}

async fn post_step(
    browser: &mut Browser,
    url: &str,
    csrf: &str,
    draft: &str,
    step: &str,
    nav: &str,
    fields: &[(&str, &str)],
) -> Page {
    let mut form = vec![
        ("csrf_token", csrf),
        ("draft", draft),
        ("step", step),
        ("nav", nav),
    ];
    form.extend_from_slice(fields);
    browser.post(url, &form).await
}

/// Posts the form `action` (`test`, `sync`, `edit`, `delete`...) of
/// integration `id`: `csrf` as its token, then `fields`.
pub async fn post_integration(
    browser: &mut Browser,
    csrf: &str,
    id: i64,
    action: &str,
    fields: &[(&str, &str)],
) -> Page {
    let mut form = vec![("csrf_token", csrf)];
    form.extend_from_slice(fields);
    browser
        .post(&format!("/integrations/{id}/{action}"), &form)
        .await
}

/// Runs the connection test of integration `id` from its page; returns the
/// page with the verdict.
pub async fn tested_detail(browser: &mut Browser, csrf: &str, id: i64) -> Page {
    post_integration(browser, csrf, id, "test", &[]).await;
    browser.get(&format!("/integrations/{id}")).await
}
