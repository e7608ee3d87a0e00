//! An HTTP client for the web app's tests: keeps cookies, does not follow
//! redirects (so each step is visible), and reads hidden form fields.
#![allow(dead_code)]

use std::collections::HashMap;

use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};
use serde_json::Value;

/// A client that keeps cookies and does not follow redirects, so each step
/// is visible.
pub struct Browser {
    client: reqwest::Client,
    base: String,
    cookies: HashMap<String, String>,
}

pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Browser {
    pub fn new(base: &str) -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: base.to_owned(),
            cookies: HashMap::new(),
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&mut self, response: reqwest::Response) -> Page {
        for value in response.headers().get_all(SET_COOKIE) {
            let pair = value.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Page {
            status: response.status(),
            location: response
                .headers()
                .get(LOCATION)
                .map(|v| v.to_str().unwrap().to_owned()),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.finish(response).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.finish(response).await
    }

    /// [`Self::post`] with owned values.
    pub async fn post_owned(&mut self, path: &str, form: &[(&str, String)]) -> Page {
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.post(path, &pairs).await
    }

    /// A `multipart/form-data` post, as a form with a file input sends it:
    /// `fields`, then the file `(input name, file name, bytes)`.
    pub async fn post_multipart(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        file: (&str, &str, &[u8]),
    ) -> Page {
        let boundary = "----cube-test-boundary-7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        let (name, file_name, bytes) = file;
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        self.finish(response).await
    }

    pub async fn sign_in(&mut self, username: &str, password: &str) -> Page {
        let form = self.get("/login").await;
        let csrf = hidden(&form.body, "csrf_token");
        self.post(
            "/login",
            &[
                ("csrf_token", &csrf),
                ("username", username),
                ("password", password),
                ("next", "/admin/users"),
            ],
        )
        .await
    }

    /// The CSRF token of the signed-in session, as the pages carry it.
    pub async fn csrf(&mut self) -> String {
        let page = self.get("/integrations/providers").await;
        hidden(&page.body, "csrf_token")
    }
}

/// The value of a hidden input in a page.
pub fn hidden(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    text_after(body, &marker, '"', name).to_owned()
}

/// The text in `body` from the first `marker` to the next `end`; `what`
/// names what is missing when there is no `marker`.
pub(crate) fn text_after<'a>(body: &'a str, marker: &str, end: char, what: &str) -> &'a str {
    let start = body
        .find(marker)
        .unwrap_or_else(|| panic!("no {what} in {body}"))
        + marker.len();
    &body[start..start + body[start..].find(end).unwrap()]
}

/// A signed-in API client: the session cookie and its CSRF token.
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub cookie: String,
    pub csrf: String,
}

impl Api {
    pub async fn sign_in(base: &str, user: &str, password: &str) -> Api {
        let mut browser = Browser::new(base);
        browser.sign_in(user, password).await;
        let cookie = browser.cookie_header();
        let http = reqwest::Client::new();
        let session: Value = http
            .get(format!("{base}/api/v1/session"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .map(|t| serde_json::from_str(&t).unwrap())
            .unwrap();
        Api {
            http,
            base: base.into(),
            cookie,
            csrf: session["csrf_token"].as_str().unwrap().into(),
        }
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, String) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        (response.status(), response.text().await.unwrap())
    }

    pub async fn json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (status, text) = self.call(method, path, body).await;
        (
            status,
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")),
        )
    }

    /// A `GET` of `path`, answered in JSON.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.json(reqwest::Method::GET, path, None).await
    }

    /// A `POST` to `path` (with `body` as JSON, if any), answered in JSON.
    pub async fn post(&self, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.json(reqwest::Method::POST, path, body).await
    }

    /// A `PUT` of `body` to `path`, answered in JSON.
    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.json(reqwest::Method::PUT, path, Some(body)).await
    }

    /// Queues a sync of integration `id` (`request`, as `{"full": true}`)
    /// and waits until it ended; returns the job's id.
    pub async fn sync_and_wait(
        &self,
        store: &cube_host::store::Store,
        id: i64,
        request: Value,
    ) -> i64 {
        let path = format!("/api/v1/integrations/{id}/sync");
        let (status, queued) = self.post(&path, Some(request)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
        crate::wait_for_syncs(store, id).await;
        queued["job"]["id"].as_i64().unwrap()
    }

    /// Queues a full sync of integration `id` and waits until it ended;
    /// returns the job.
    pub async fn full_sync(&self, store: &cube_host::store::Store, id: i64) -> Value {
        let job = self
            .sync_and_wait(store, id, serde_json::json!({"full": true}))
            .await;
        self.get(&format!("/api/v1/jobs/{job}")).await.1
    }

    /// A `DELETE` of `path`; its status (the answer has no body).
    pub async fn delete(&self, path: &str) -> StatusCode {
        self.call(reqwest::Method::DELETE, path, None).await.0
    }
}

/// A client that calls the API with an API token (`Authorization:
/// Bearer`) and nothing else: no cookie, no CSRF token.
pub struct Bearer {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Bearer {
    pub fn new(base: &str, token: &str) -> Self {
        Bearer {
            http: reqwest::Client::new(),
            base: base.to_owned(),
            token: token.to_owned(),
        }
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        request.send().await.unwrap()
    }

    pub async fn json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let response = self.send(method, path, body).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")),
        )
    }
}
