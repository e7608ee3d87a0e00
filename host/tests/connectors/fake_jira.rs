//! The fake Jira itself: real HTTP requests against it, on Cloud:
//! authentication, project metadata, and an issue's life (created, read,
//! edited, transitioned, commented on, deleted). Searching, Data Center,
//! the contract checks and faults, and the remote side have files of their
//! own (`fake_jira_*.rs`).

use cube_test_support as common;

use common::fake_jira::{Edition, FakeJira};
use common::jira_client::{Jira, doc, first_error, no_violations};
use serde_json::{Value, json};

/// `f` of each item of the JSON array `list`.
fn each<T>(list: &Value, f: impl Fn(&Value) -> T) -> Vec<T> {
    list.as_array().expect("an array").iter().map(f).collect()
}

#[tokio::test]
async fn cloud_authenticates_with_basic_email_and_api_token() {
    let fake = FakeJira::start(Edition::Cloud).await;
    let jira = Jira::new(&fake);
    let (status, me) = jira.get("/myself").await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["displayName"], "CUBE Service");
    assert_eq!(me["emailAddress"], fake.credentials().0);
    assert_eq!(me["timeZone"], "UTC");
    assert_eq!(me["active"], true);
    assert!(me["accountId"].is_string());

    let wrong = Jira {
        auth: "Basic Y3ViZUBleGFtcGxlLmNvbTpub3Bl".into(),
        ..Jira::new(&fake)
    };
    let answer = wrong.send("GET", "/myself", None).await;
    assert_eq!(answer.status, 401);
    assert!(answer.body["errorMessages"][0].is_string());
    assert_eq!(answer.body["errors"], json!({}));
    let bearer = Jira {
        auth: format!("Bearer {}", fake.credentials().1),
        ..Jira::new(&fake)
    };
    assert_eq!(bearer.get("/myself").await.0, 401);

    fake.set_forbidden(true);
    assert_eq!(jira.get("/project/OPS").await.0, 403);
    assert_eq!(jira.get("/myself").await.0, 200);
    fake.set_forbidden(false);
    assert_eq!(jira.get("/project/OPS").await.0, 200);

    fake.set_credentials("other@example.com", "token-2");
    assert_eq!(jira.get("/myself").await.0, 401);
    assert_eq!(Jira::new(&fake).get("/myself").await.0, 200);
    no_violations(&fake);
}

#[tokio::test]
async fn cloud_metadata_endpoints() {
    let fake = FakeJira::start(Edition::Cloud).await;
    let jira = Jira::new(&fake);
    let (status, project) = jira.get("/project/OPS").await;
    assert_eq!(status, 200);
    assert_eq!(
        (project["id"].as_str(), project["name"].as_str()),
        (Some("10000"), Some("Operations"))
    );
    assert_eq!(jira.get("/project/10000").await.1["key"], "OPS");
    let (status, missing) = jira.get("/project/NOPE").await;
    assert_eq!(status, 404);
    assert!(first_error(&missing).contains("NOPE"));

    let (_, page) = jira.get("/project/search?maxResults=1").await;
    assert_eq!(
        (page["total"].as_u64(), page["isLast"].as_bool()),
        (Some(2), Some(false))
    );
    assert_eq!(page["values"][0]["key"], "HR");
    let (_, page) = jira.get("/project/search?startAt=1&maxResults=1").await;
    assert_eq!(
        (page["values"][0]["key"].as_str(), page["isLast"].as_bool()),
        (Some("OPS"), Some(true))
    );

    let (_, meta) = jira.get("/issue/createmeta/OPS/issuetypes").await;
    let names: Vec<_> = each(&meta["issueTypes"], |t| {
        (t["id"].clone(), t["name"].clone())
    });
    assert_eq!(
        names,
        [
            (json!("10001"), json!("Task")),
            (json!("10002"), json!("Bug"))
        ]
    );
    assert_eq!(meta["total"], 2);

    let (_, statuses) = jira.get("/project/OPS/statuses").await;
    let task = &statuses[0];
    assert_eq!(task["name"], "Task");
    let categories: Vec<_> = each(&task["statuses"], |s| {
        format!(
            "{}={}",
            s["name"].as_str().unwrap(),
            s["statusCategory"]["key"].as_str().unwrap()
        )
    });
    assert_eq!(
        categories,
        ["To Do=new", "In Progress=indeterminate", "Done=done"]
    );

    let (_, priorities) = jira.get("/priority/search").await;
    let list: Vec<_> = each(&priorities["values"], |p| {
        format!(
            "{}:{}:{}",
            p["id"].as_str().unwrap(),
            p["name"].as_str().unwrap(),
            p["isDefault"]
        )
    });
    assert_eq!(
        list,
        [
            "1:Highest:false",
            "2:High:false",
            "3:Medium:true",
            "4:Low:false",
            "5:Lowest:false"
        ]
    );
    assert_eq!(priorities["isLast"], true);
    no_violations(&fake);
    assert!(
        fake.warnings()
            .iter()
            .any(|w| w.contains("/priority/search")),
        "{:?}",
        fake.warnings()
    );
}

#[tokio::test]
async fn cloud_issue_lifecycle() {
    let fake = FakeJira::start(Edition::Cloud).await;
    let jira = Jira::new(&fake);
    let (status, created) = jira
        .post(
            "/issue",
            json!({"fields": {
                "project": {"key": "OPS"},
                "issuetype": {"id": "10002"},
                "summary": "Printer on fire",
                "description": doc("Smoke on floor 3"),
                "priority": {"name": "High"},
                "labels": ["hardware"],
                "duedate": "2024-02-01",
            }}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["key"], "OPS-1");
    assert_eq!(created["id"], "10000");
    assert!(
        created["self"]
            .as_str()
            .unwrap()
            .ends_with("/rest/api/3/issue/10000")
    );

    let (status, issue) = jira.get("/issue/OPS-1").await;
    assert_eq!(status, 200);
    let fields = &issue["fields"];
    assert_eq!(fields["summary"], "Printer on fire");
    assert_eq!(fields["description"], doc("Smoke on floor 3"));
    assert_eq!(fields["status"]["name"], "To Do");
    assert_eq!(fields["status"]["statusCategory"]["key"], "new");
    assert_eq!(
        fields["priority"],
        json!({"self": fields["priority"]["self"], "iconUrl": fields["priority"]["iconUrl"], "name": "High", "id": "2"})
    );
    assert_eq!(fields["issuetype"]["name"], "Bug");
    assert_eq!(fields["project"]["key"], "OPS");
    assert_eq!(fields["reporter"]["displayName"], "CUBE Service");
    assert_eq!(fields["assignee"], Value::Null);
    assert_eq!(fields["duedate"], "2024-02-01");
    assert_eq!(fields["labels"], json!(["hardware"]));
    assert_eq!(fields["comment"]["total"], 0);
    let created_at = fields["created"].as_str().unwrap().to_owned();
    assert_eq!(created_at.len(), "2024-01-15T10:30:00.000+0000".len());
    assert!(created_at.ends_with("+0000"), "{created_at}");

    let (_, some) = jira.get("/issue/10000?fields=summary,status").await;
    let keys: Vec<_> = some["fields"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(keys, ["summary", "status"]);
    assert_eq!(some["key"], "OPS-1");

    // Edits: 204, and `updated` moves on.
    let (status, _) = jira
        .put(
            "/issue/OPS-1",
            json!({"fields": {"summary": "Printer still on fire", "priority": {"id": "1"}}}),
        )
        .await;
    assert_eq!(status, 204);
    let issue = fake.issue("OPS-1").unwrap();
    assert_eq!(
        (issue.summary.as_str(), issue.priority.as_str()),
        ("Printer still on fire", "Highest")
    );
    assert!(
        issue.updated > created_at,
        "{} > {created_at}",
        issue.updated
    );
    let (status, _) = jira
        .put(
            "/issue/OPS-1",
            json!({"update": {"labels": [{"add": "urgent"}, {"remove": "hardware"}]}}),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(fake.issue("OPS-1").unwrap().labels, ["urgent"]);
    // A text custom field takes a plain string, on Cloud too; unknown ones are refused.
    let (status, _) = jira
        .put(
            "/issue/OPS-1",
            json!({"fields": {"customfield_10050": "Ana"}}),
        )
        .await;
    assert_eq!(status, 204);
    let (_, issue) = jira.get("/issue/OPS-1?fields=customfield_10050").await;
    assert_eq!(issue["fields"]["customfield_10050"], "Ana");
    assert_eq!(
        fake.issue("OPS-1").unwrap().custom_fields["customfield_10050"],
        "Ana"
    );
    let (status, body) = jira
        .put(
            "/issue/OPS-1",
            json!({"fields": {"customfield_99999": "x"}}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(body["errors"]["customfield_99999"].is_string());

    // What Jira refuses.
    let (status, body) = jira
        .put(
            "/issue/OPS-1",
            json!({"fields": {"description": "plain text"}}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"]["description"],
        "Operation value must be an Atlassian Document"
    );
    let (status, body) = jira
        .put(
            "/issue/OPS-1",
            json!({"fields": {"status": {"name": "Done"}}}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["errors"]["status"]
            .as_str()
            .unwrap()
            .contains("cannot be set")
    );
    let (status, body) = jira
        .post("/issue", json!({"fields": {"project": {"key": "OPS"}}}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"]["summary"],
        "You must specify a summary of the issue."
    );
    assert!(body["errors"]["issuetype"].is_string());
    let (status, body) = jira.post("/issue", json!({"fields": {"project": {"id": "10001"}, "issuetype": {"name": "Task"}, "summary": "x", "priority": {"name": "Urgent"}}})).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"]["priority"].is_string());

    // Transitions.
    let (_, transitions) = jira.get("/issue/OPS-1/transitions").await;
    let offered: Vec<_> = each(&transitions["transitions"], |t| {
        format!(
            "{}->{}",
            t["id"].as_str().unwrap(),
            t["to"]["name"].as_str().unwrap()
        )
    });
    assert_eq!(offered, ["21->In Progress", "31->Done"]);
    let (status, _) = jira
        .post(
            "/issue/OPS-1/transitions",
            json!({"transition": {"id": "31"}}),
        )
        .await;
    assert_eq!(status, 204);
    let (_, issue) = jira.get("/issue/OPS-1?fields=status,resolution").await;
    assert_eq!(issue["fields"]["status"]["statusCategory"]["key"], "done");
    assert_eq!(issue["fields"]["resolution"]["name"], "Done");
    let (status, body) = jira
        .post(
            "/issue/OPS-1/transitions",
            json!({"transition": {"id": "31"}}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(first_error(&body).contains("'31'"));

    // Comments.
    let (status, comment) = jira
        .post(
            "/issue/OPS-1/comment",
            json!({"body": doc("Called the fire brigade")}),
        )
        .await;
    assert_eq!(status, 201, "{comment}");
    assert_eq!(comment["body"], doc("Called the fire brigade"));
    assert_eq!(comment["author"]["displayName"], "CUBE Service");
    assert!(
        comment["id"].is_string()
            && comment["created"].is_string()
            && comment["updated"].is_string()
    );
    fake.add_comment_remote("OPS-1", "Bob Builder", "Fixed it");
    let (_, page) = jira
        .get("/issue/OPS-1/comment?startAt=1&maxResults=1")
        .await;
    assert_eq!(
        (
            page["total"].as_u64(),
            page["startAt"].as_u64(),
            page["maxResults"].as_u64()
        ),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(page["comments"][0]["author"]["displayName"], "Bob Builder");
    assert_eq!(page["comments"][0]["body"], doc("Fixed it"));
    let (status, _) = jira
        .post("/issue/OPS-1/comment", json!({"body": "plain"}))
        .await;
    assert_eq!(status, 400);

    // Deletion.
    assert_eq!(jira.send("DELETE", "/issue/OPS-1", None).await.status, 204);
    let (status, body) = jira.get("/issue/OPS-1").await;
    assert_eq!(status, 404);
    assert_eq!(
        body["errorMessages"],
        json!(["Issue does not exist or you do not have permission to see it."])
    );
    assert!(fake.issue("OPS-1").is_none());
    no_violations(&fake);
}
