//! The fake Jira itself, the remote side tests drive: edits made
//! remotely move `updated` and the fake's clock, and its webhooks are
//! signed and shaped like Jira's.

use cube_test_support as common;

use std::time::Duration;

use common::fake_jira::{Edition, FakeJira};
use serde_json::{Value, json};

#[tokio::test]
async fn remote_edits_move_updated_and_the_clock() {
    let fake = FakeJira::start(Edition::Cloud).await;
    assert_eq!(fake.now(), "2024-01-15T10:30:00.000+0000");
    let key = fake.create_issue_remote("OPS", "Remote");
    let first = fake.issue(&key).unwrap();
    assert_eq!(first.reporter.as_deref(), Some("Alice Example"));
    fake.advance_clock(Duration::from_secs(3600));
    fake.set_description_remote(&key, "Line one\nLine two");
    fake.set_priority_remote(&key, "Low");
    fake.set_status_remote(&key, "Done");
    let comment = fake.add_comment_remote(&key, "Alice Example", "Done and dusted");
    let issue = fake.issue(&key).unwrap();
    assert_eq!(issue.description.as_deref(), Some("Line one\nLine two"));
    assert_eq!(issue.description_raw.as_ref().unwrap()["type"], "doc");
    assert_eq!(
        (issue.priority.as_str(), issue.status.as_str()),
        ("Low", "Done")
    );
    assert_eq!(issue.comments[0].id, comment);
    assert_eq!(issue.comments[0].body, "Done and dusted");
    assert!(
        issue.updated.as_str() > "2024-01-15T11:30:00.000+0000",
        "{}",
        issue.updated
    );
    assert!(issue.updated > first.updated);
    fake.edit_remote(&key, json!({"summary": "Remote", "labels": ["a"]}));
    assert_eq!(fake.issue(&key).unwrap().labels, ["a"]);
    let before = fake.issue(&key).unwrap().updated;
    fake.edit_remote(&key, json!({"summary": "Remote"}));
    assert_eq!(
        fake.issue(&key).unwrap().updated,
        before,
        "an edit that changes nothing is no update"
    );
    fake.delete_remote(&key);
    assert!(fake.issue(&key).is_none());
    assert!(fake.keys().is_empty());
}

#[tokio::test]
async fn webhooks_are_signed_and_shaped_like_jiras() {
    use hmac::{Hmac, Mac};
    let fake = FakeJira::start(Edition::Cloud).await;
    let key = fake.create_issue_remote("OPS", "Hooked");
    let header = |headers: &[(String, String)], name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };

    let (headers, body) = fake.webhook("jira:issue_created", &key, None, "s3cret");
    let payload: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(payload["webhookEvent"], "jira:issue_created");
    assert_eq!(payload["issue_event_type_name"], "issue_created");
    assert_eq!(payload["issue"]["key"], key.as_str());
    assert_eq!(payload["issue"]["fields"]["summary"], "Hooked");
    assert_eq!(payload["user"]["displayName"], "Alice Example");
    assert!(payload["timestamp"].is_i64());
    assert_eq!(
        header(&headers, "content-type").as_deref(),
        Some("application/json")
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"s3cret").unwrap();
    mac.update(&body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(header(&headers, "x-hub-signature"), Some(expected));
    let first_id = header(&headers, "x-atlassian-webhook-identifier").unwrap();

    fake.set_summary_remote(&key, "Hooked twice");
    fake.set_description_remote(&key, "Now described");
    let (headers, body) = fake.webhook("jira:issue_updated", &key, None, "s3cret");
    let payload: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(payload["issue_event_type_name"], "issue_updated");
    assert_eq!(payload["changelog"]["items"][0]["field"], "description");
    assert_eq!(
        payload["changelog"]["items"][0]["toString"],
        "Now described"
    );
    // Webhooks carry the v2 form: text, not a document.
    assert_eq!(payload["issue"]["fields"]["description"], "Now described");
    assert!(
        payload["issue"]["self"]
            .as_str()
            .unwrap()
            .contains("/rest/api/2/issue/")
    );
    let second_id = header(&headers, "x-atlassian-webhook-identifier").unwrap();
    assert_ne!(first_id, second_id);
    assert_eq!(header(&headers, "x-atlassian-webhook-retry"), None);

    fake.set_status_remote(&key, "In Progress");
    let (_, body) = fake.webhook("jira:issue_updated", &key, None, "s3cret");
    let payload: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(payload["issue_event_type_name"], "issue_generic");
    assert_eq!(payload["changelog"]["items"][0]["toString"], "In Progress");

    let (retry_headers, retry_body) = FakeJira::redelivery(&headers, &body);
    assert_eq!(
        header(&retry_headers, "x-atlassian-webhook-identifier"),
        Some(second_id)
    );
    assert_eq!(
        header(&retry_headers, "x-atlassian-webhook-retry").as_deref(),
        Some("1")
    );
    assert_eq!(
        header(&retry_headers, "x-hub-signature"),
        header(&headers, "x-hub-signature")
    );
    let (again, _) = FakeJira::redelivery(&retry_headers, &retry_body);
    assert_eq!(
        header(&again, "x-atlassian-webhook-retry").as_deref(),
        Some("2")
    );

    let comment = fake.add_comment_remote(&key, "Carol", "Looks good");
    let (_, body) = fake.webhook("comment_created", &key, Some(&comment), "s3cret");
    let payload: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(payload["webhookEvent"], "comment_created");
    assert_eq!(payload["comment"]["id"], comment.as_str());
    assert_eq!(payload["comment"]["body"], "Looks good");
    assert_eq!(payload["comment"]["author"]["displayName"], "Carol");
    assert_eq!(payload["issue"]["key"], key.as_str());
    assert_eq!(payload["issue"]["fields"]["status"]["name"], "In Progress");

    fake.delete_remote(&key);
    let (_, body) = fake.webhook("jira:issue_deleted", &key, None, "s3cret");
    let payload: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(payload["issue_event_type_name"], "issue_deleted");
    assert_eq!(payload["issue"]["key"], key.as_str());
    assert_eq!(
        FakeJira::signature("s3cret", &body).len(),
        "sha256=".len() + 64
    );
}
