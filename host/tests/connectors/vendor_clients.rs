//! The SaaS fakes checked with the vendors' own clients: the `jira`
//! (pycontribs) and `slack_sdk` (Slack) Python libraries, pinned in
//! `scripts/setup-python-tools.sh`, drive each fake through the operations
//! our connectors use (`tests/vendor_clients/check.py`).
//! A client that cannot parse an answer, or reads it differently from the
//! fake's own state, fails here: drift our reading of the vendor documents
//! would not catch. Each fake must also have seen no request outside its
//! contract.

use cube_test_support as common;

use serde_json::{Value, json};

use common::fake_jira::{Edition, FakeJira};
use common::fake_slack::{self, FakeSlack};

/// Runs `check.py NAME ARGS...` with the tools venv's python and parses
/// its JSON.
async fn vendor_client(name: &str, args: Vec<String>) -> Value {
    let mut all = vec![name.to_owned()];
    all.extend(args);
    common::python_tools::run_json("the vendor client", "tests/vendor_clients/check.py", all).await
}

#[tokio::test]
async fn the_jira_python_client_reads_and_writes_the_fake_jira_cloud() {
    let fake = FakeJira::start(Edition::Cloud).await;
    let before = fake.keys();
    let (user, token) = fake.credentials();
    let seen = vendor_client("jira", vec![fake.base_url(), user, token]).await;

    let key = seen["created"].as_str().unwrap().to_owned();
    assert!(!before.contains(&key), "{key} was not new");
    let issue = fake.issue(&key).expect("the client's issue is in the fake");
    assert_eq!(seen["myself"], "CUBE Service");
    assert!(seen["projects"].as_array().unwrap().contains(&json!("OPS")));
    assert_eq!(seen["project_name"], "Operations");
    assert_eq!(seen["issue_types"], json!(["Bug", "Task"]));
    assert_eq!(seen["priorities"].as_array().unwrap().len(), 5);
    assert_eq!(issue.summary, "Printer on floor 3 is jammed again");
    assert_eq!(seen["summary"], issue.summary.as_str());
    assert_eq!(issue.status, "In Progress");
    assert_eq!(seen["status"], "In Progress");
    assert_eq!(issue.priority, "High");
    assert_eq!(seen["priority"], "High");
    assert_eq!(issue.labels, ["cube"]);
    assert_eq!(seen["labels"], json!(["cube"]));
    let comment_ids: Vec<Value> = issue.comments.iter().map(|c| json!(c.id)).collect();
    assert_eq!(issue.comments.last().unwrap().body, "On my way");
    assert_eq!(seen["comments"], Value::Array(comment_ids));
    assert_eq!(seen["comment"], issue.comments.last().unwrap().id.as_str());
    let ops: Vec<String> = fake
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("OPS-"))
        .collect();
    assert_eq!(seen["found"], json!(ops));
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}

#[tokio::test]
async fn slacks_python_sdk_posts_through_the_fake_slack_and_verifies_its_signatures() {
    let fake = FakeSlack::start().await;
    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    let (headers, body) = fake_slack::slash_command(
        secret,
        "/workorder",
        "list",
        "13345224609.738474920.8088930838d88f008e0",
    );
    let signed = json!({
        "body": String::from_utf8(body).unwrap(),
        "headers": headers
            .into_iter()
            .map(|(name, value)| (name, Value::String(value)))
            .collect::<serde_json::Map<String, Value>>(),
    });
    let args = vec![
        fake.api_url(),
        fake.token(),
        fake.hook_url(),
        secret.to_owned(),
        signed.to_string(),
    ];
    let seen = vendor_client("slack", args).await;

    assert_eq!(seen["team_id"], "T0CUBE");
    assert_eq!(seen["bot_id"], "B0CUBE");
    assert_eq!(seen["posted_channel"], fake_slack::CHANNEL);
    let messages = fake.messages();
    let first = messages
        .iter()
        .find(|m| m.ts == seen["posted_ts"].as_str().unwrap())
        .expect("the posted message is in the fake");
    assert_eq!(first.text, "Work order WO-1 closed");
    assert_eq!(first.edits, 1);
    assert_eq!(seen["updated_ts"], first.ts.as_str());
    assert_eq!(seen["reply_thread"], first.ts.as_str());
    assert_eq!(fake.replies(&first.ts).len(), 1);
    assert_eq!(seen["refused"], "channel_not_found");
    assert_eq!(seen["hook_status"], 200);
    assert_eq!(seen["hook_body"], "ok");
    assert_eq!(fake.hook_posts().len(), 1);
    assert_eq!(seen["signature_valid"], true);
    assert_eq!(seen["tampered_valid"], false);
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}
