//! A sender of webhook deliveries to CUBE's endpoints, for the webhook
//! tests: deliveries signed as a `cube-hmac-sha256` sender signs them, and
//! the timestamps they carry.

use cube_host::webhooks::signature::sign_cube;
use reqwest::StatusCode;

/// Signs and posts `body` to `url` as a `cube-hmac-sha256` sender would.
pub async fn deliver(
    url: &str,
    secret: &str,
    delivery: &str,
    ts: i64,
    body: &str,
) -> (StatusCode, String) {
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("x-cube-timestamp", ts.to_string())
        .header(
            "x-cube-signature",
            sign_cube(secret.as_bytes(), ts, delivery, body.as_bytes()),
        )
        .header("x-cube-delivery", delivery)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

/// Now, in seconds since the epoch, as a delivery's timestamp says it.
pub fn now() -> i64 {
    cube_host::store::now_millis() / 1000
}
