//! The fake Jira itself: real HTTP requests against it, on both editions.

mod common;

use std::time::Duration;

use common::fake_jira::{Edition, FakeJira};
use serde_json::{Value, json};

/// A client of one fake, with its credentials.
struct Jira {
    http: reqwest::Client,
    api: String,
    auth: String,
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Jira {
    fn new(fake: &FakeJira) -> Jira {
        Jira {
            http: reqwest::Client::new(),
            api: fake.api_url(),
            auth: fake.auth_header(),
        }
    }

    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.api))
            .header("Authorization", &self.auth)
            .header("Accept", "application/json");
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(serde_json::to_vec(&body).unwrap());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let a = self.send("GET", path, None).await;
        (a.status, a.body)
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let a = self.send("POST", path, Some(body)).await;
        (a.status, a.body)
    }

    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        let a = self.send("PUT", path, Some(body)).await;
        (a.status, a.body)
    }
}

fn doc(text: &str) -> Value {
    json!({"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": text}]}
    ]})
}

fn no_violations(fake: &FakeJira) {
    let violations = fake.violations();
    assert!(violations.is_empty(), "violations: {violations:#?}");
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
    assert!(
        missing["errorMessages"][0]
            .as_str()
            .unwrap()
            .contains("NOPE")
    );

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
    let names: Vec<_> = meta["issueTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].clone(), t["name"].clone()))
        .collect();
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
    let categories: Vec<_> = task["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}={}",
                s["name"].as_str().unwrap(),
                s["statusCategory"]["key"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        categories,
        ["To Do=new", "In Progress=indeterminate", "Done=done"]
    );

    let (_, priorities) = jira.get("/priority/search").await;
    let list: Vec<_> = priorities["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}:{}:{}",
                p["id"].as_str().unwrap(),
                p["name"].as_str().unwrap(),
                p["isDefault"]
            )
        })
        .collect();
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
    let offered: Vec<_> = transitions["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}->{}",
                t["id"].as_str().unwrap(),
                t["to"]["name"].as_str().unwrap()
            )
        })
        .collect();
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
    assert!(body["errorMessages"][0].as_str().unwrap().contains("'31'"));

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

#[tokio::test]
async fn cloud_search_pages_with_tokens() {
    let fake = FakeJira::start(Edition::Cloud).await;
    let jira = Jira::new(&fake);
    let keys = fake.bulk_create("OPS", 250);
    fake.create_issue_remote("HR", "Not in OPS");

    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut request = json!({"jql": "project = OPS ORDER BY key ASC", "maxResults": 1000, "fields": ["summary", "updated"]});
        if let Some(t) = &token {
            request["nextPageToken"] = t.clone().into();
        }
        let (status, page) = jira.post("/search/jql", request).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        let issues = page["issues"].as_array().unwrap();
        assert!(issues.len() <= 100);
        seen.extend(issues.iter().map(|i| i["key"].as_str().unwrap().to_owned()));
        assert!(issues[0]["fields"]["summary"].is_string());
        match page.get("nextPageToken") {
            Some(t) => {
                assert_eq!(page["isLast"], false);
                token = Some(t.as_str().unwrap().to_owned());
            }
            None => {
                assert_eq!(page["isLast"], true);
                break;
            }
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, keys);

    // GET, a smaller page, and issue ids only by default.
    let (_, page) = jira
        .get("/search/jql?jql=project%20%3D%20OPS%20ORDER%20BY%20key%20DESC&maxResults=2")
        .await;
    assert_eq!(page["issues"], json!([{"id": "10249"}, {"id": "10248"}]));
    let (_, page) = jira
        .get("/search/jql?jql=key%20%3D%20OPS-7&fields=summary&fields=status")
        .await;
    assert_eq!(page["issues"][0]["fields"]["summary"], "Bulk issue 7");
    assert_eq!(page["issues"][0]["fields"]["status"]["name"], "To Do");
    assert!(page.get("nextPageToken").is_none());

    let (status, body) = jira
        .post("/search/jql", json!({"jql": "ORDER BY updated"}))
        .await;
    assert_eq!(status, 400);
    assert!(
        body["errorMessages"][0]
            .as_str()
            .unwrap()
            .starts_with("Unbounded JQL")
    );
    let (status, body) = jira
        .post("/search/jql", json!({"jql": "project = OPS AND"}))
        .await;
    assert_eq!(status, 400);
    assert!(
        body["errorMessages"][0]
            .as_str()
            .unwrap()
            .starts_with("Error in the JQL Query:"),
        "{body}"
    );
    assert_eq!(body["errors"], json!({}));
    let (status, _) = jira
        .post(
            "/search/jql",
            json!({"jql": "project = OPS", "nextPageToken": "forged"}),
        )
        .await;
    assert_eq!(status, 400);

    // The old search is gone from Cloud.
    assert_eq!(jira.get("/search?jql=project%3DOPS").await.0, 410);
    no_violations(&fake);
}

#[tokio::test]
async fn jql_filters_and_orders_like_jira() {
    let fake = FakeJira::start(Edition::Cloud).await;
    let jira = Jira::new(&fake);
    let a = fake.create_issue_remote("OPS", "Alpha");
    fake.advance_clock(Duration::from_secs(600));
    let since = fake.now_jql();
    let b = fake.create_issue_remote("OPS", "Beta");
    let c = fake.create_issue_remote("HR", "Gamma");
    fake.set_status_remote(&b, "In Progress");
    fake.set_labels_remote(&c, &["payroll", "q1"]);
    fake.advance_clock(Duration::from_secs(120));
    fake.set_summary_remote(&a, "Alpha edited");

    let search = |jql: &str| {
        let body = json!({"jql": jql, "fields": ["key"], "maxResults": 50});
        let jira = &jira;
        async move {
            let (status, page) = jira.post("/search/jql", body).await;
            (status, page)
        }
    };
    let keys = |page: &Value| -> Vec<String> {
        page["issues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["key"].as_str().unwrap().to_owned())
            .collect()
    };
    let cases: Vec<(String, Vec<&str>)> = vec![
        ("project = OPS ORDER BY key ASC".into(), vec![&a, &b]),
        (r#"project = "HR""#.into(), vec![&c]),
        (
            format!(r#"updated >= "{since}" ORDER BY updated ASC"#),
            vec![&b, &c, &a],
        ),
        (
            format!(r#"project = OPS AND updated >= "{since}" ORDER BY updated DESC, key ASC"#),
            vec![&a, &b],
        ),
        (r#"status = "In Progress""#.into(), vec![&b]),
        ("labels = payroll".into(), vec![&c]),
        ("labels is EMPTY ORDER BY key".into(), vec![&a, &b]),
        (format!("key = {a}"), vec![&a]),
        (
            "(project = HR OR status = 'In Progress') AND NOT labels = q2 ORDER BY created ASC"
                .into(),
            vec![&b, &c],
        ),
        ("summary ~ alpha".into(), vec![&a]),
        (
            "project in (OPS, HR) AND status != Done ORDER BY created DESC".into(),
            vec![&c, &b, &a],
        ),
    ];
    for (jql, expected) in cases {
        let (status, page) = search(&jql).await;
        assert_eq!(status, 200, "{jql}: {page}");
        assert_eq!(keys(&page), expected, "{jql}");
    }
    // Minute precision: seconds are not JQL.
    let (status, body) = search(r#"updated >= "2024-01-15 10:30:15""#).await;
    assert_eq!(status, 400);
    assert!(
        body["errorMessages"][0]
            .as_str()
            .unwrap()
            .contains("Date value"),
        "{body}"
    );
    for (jql, message) in [
        ("project = NOPE", "does not exist for the field 'project'"),
        ("frobnicate = 1", "Field 'frobnicate' does not exist"),
        ("project = OPS ORDER BY", "Error in the JQL Query"),
        ("summary = Alpha", "operator '=' is not supported"),
        (r#"project = "OPS"#, "Error in the JQL Query"),
    ] {
        let (status, body) = search(jql).await;
        assert_eq!(status, 400, "{jql}");
        assert!(
            body["errorMessages"][0].as_str().unwrap().contains(message),
            "{jql}: {body}"
        );
    }
    no_violations(&fake);
}

#[tokio::test]
async fn requests_against_the_spec_are_recorded_and_refused() {
    let fake = FakeJira::start(Edition::Cloud).await;
    let jira = Jira::new(&fake);
    let key = fake.create_issue_remote("OPS", "Something");

    let (status, body) = jira.get(&format!("/issue/{key}?frobnicate=1")).await;
    assert_eq!(status, 400);
    assert!(
        body["errorMessages"][0]
            .as_str()
            .unwrap()
            .contains("frobnicate")
    );
    let (status, _) = jira
        .get("/search/jql?jql=project%3DOPS&maxResults=lots")
        .await;
    assert_eq!(status, 400);
    let (status, _) = jira
        .post(
            "/search/jql",
            json!({"jql": "project = OPS", "startAt": 10}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = jira
        .post(
            &format!("/issue/{key}/comment"),
            json!({"body": doc("hi"), "id": "1"}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = jira
        .post(
            &format!("/issue/{key}/transitions"),
            json!({"transition": {"id": 31}}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = jira.get("/issues/OPS-1").await;
    assert_eq!(status, 400);
    let status = jira
        .send("PATCH", &format!("/issue/{key}"), Some(json!({})))
        .await
        .status;
    assert_eq!(status, 400);
    let raw = reqwest::Client::new()
        .post(format!("{}/issue", fake.api_url()))
        .header("Authorization", fake.auth_header())
        .header("Content-Type", "text/plain")
        .body("summary=x")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 400);
    let v2 = reqwest::Client::new()
        .get(format!("{}/rest/api/2/myself", fake.base_url()))
        .header("Authorization", fake.auth_header())
        .send()
        .await
        .unwrap();
    assert_eq!(v2.status().as_u16(), 400);

    let violations = fake.violations();
    let expect = [
        "GET /rest/api/3/issue/OPS-1?frobnicate=1: query parameter 'frobnicate' is not declared",
        "GET /rest/api/3/search/jql?jql=project%3DOPS&maxResults=lots: query parameter maxResults: 'lots' is not of type integer",
        "POST /rest/api/3/search/jql: body.startAt: unknown property (additionalProperties is false)",
        "POST /rest/api/3/issue/OPS-1/comment: body.id: is read-only and must not be sent",
        "POST /rest/api/3/issue/OPS-1/transitions: body.transition.id: expected string, got number",
        "GET /rest/api/3/issues/OPS-1: no such path in the OpenAPI description",
        "PATCH /rest/api/3/issue/OPS-1: /rest/api/3/issue/{issueIdOrKey} has no PATCH operation",
        "POST /rest/api/3/issue: Content-Type 'text/plain' is not one the operation accepts",
        "GET /rest/api/2/myself: the fake Jira Cloud serves /rest/api/3/ only",
    ];
    assert_eq!(violations.len(), expect.len(), "{violations:#?}");
    for (got, want) in violations.iter().zip(expect) {
        assert!(
            got.starts_with(want),
            "{got}\n  does not start with\n{want}"
        );
    }
    // A refused request changed nothing.
    assert!(fake.issue(&key).unwrap().comments.is_empty());
    assert_eq!(fake.issue(&key).unwrap().status, "To Do");
}

#[tokio::test]
async fn data_center_speaks_v2_with_a_personal_access_token() {
    let fake = FakeJira::start(Edition::DataCenter).await;
    let jira = Jira::new(&fake);
    assert!(jira.auth.starts_with("Bearer "));
    assert!(jira.api.ends_with("/rest/api/2"));
    let (status, me) = jira.get("/myself").await;
    assert_eq!(status, 200);
    assert_eq!(
        (me["name"].as_str(), me["displayName"].as_str()),
        (Some("cube"), Some("CUBE Service"))
    );
    let basic = Jira {
        auth: format!("Basic {}", "Y3ViZTpwYXQ="),
        ..Jira::new(&fake)
    };
    assert_eq!(basic.get("/myself").await.0, 401);

    let (_, projects) = jira.get("/project").await;
    assert_eq!(projects.as_array().unwrap().len(), 2);
    let (_, priorities) = jira.get("/priority").await;
    assert_eq!(priorities[2]["name"], "Medium");
    let (_, meta) = jira.get("/issue/createmeta/OPS/issuetypes").await;
    assert_eq!(meta["values"][0]["name"], "Task");
    assert_eq!(meta["isLast"], true);

    let (status, created) = jira
        .post("/issue", json!({"fields": {"project": {"key": "OPS"}, "issuetype": {"name": "Task"}, "summary": "Plain", "description": "Just text"}}))
        .await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    let (_, issue) = jira.get(&format!("/issue/{key}")).await;
    assert_eq!(issue["fields"]["description"], "Just text");
    let (status, body) = jira
        .put(
            &format!("/issue/{key}"),
            json!({"fields": {"description": doc("rich")}}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, comment) = jira
        .post(
            &format!("/issue/{key}/comment"),
            json!({"body": "A plain comment"}),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(comment["body"], "A plain comment");
    assert_eq!(
        fake.issue(&key).unwrap().comments[0].body,
        "A plain comment"
    );

    fake.bulk_create("OPS", 30);
    let (_, page) = jira.get("/search?jql=project%20%3D%20OPS%20ORDER%20BY%20key%20ASC&startAt=10&maxResults=5&fields=summary").await;
    assert_eq!(
        (
            page["startAt"].as_u64(),
            page["maxResults"].as_u64(),
            page["total"].as_u64()
        ),
        (Some(10), Some(5), Some(31))
    );
    assert_eq!(page["issues"][0]["key"], "OPS-11");
    assert_eq!(page["issues"][0]["fields"].as_object().unwrap().len(), 1);
    let (_, page) = jira
        .post(
            "/search",
            json!({"jql": "project = OPS", "startAt": 0, "maxResults": 2}),
        )
        .await;
    assert_eq!(page["issues"].as_array().unwrap().len(), 2);
    assert!(page["issues"][0]["fields"]["status"].is_object());
    no_violations(&fake);

    // Cloud-only resources and v3 paths are deviations on Data Center.
    assert_eq!(jira.get("/search/jql?jql=project%3DOPS").await.0, 404);
    let v3 = reqwest::Client::new()
        .get(format!("{}/rest/api/3/myself", fake.base_url()))
        .header("Authorization", fake.auth_header())
        .send()
        .await
        .unwrap();
    assert_eq!(v3.status().as_u16(), 400);
    assert_eq!(fake.violations().len(), 2, "{:#?}", fake.violations());
}

#[tokio::test]
async fn faults_can_be_injected_and_requests_are_logged() {
    let fake = FakeJira::start(Edition::Cloud).await;
    let jira = Jira::new(&fake);
    fake.rate_limit_next(2, 7);
    for _ in 0..2 {
        let answer = jira.send("GET", "/myself", None).await;
        assert_eq!(answer.status, 429);
        assert_eq!(answer.headers["retry-after"], "7");
        assert!(answer.body["errorMessages"][0].is_string());
    }
    fake.fail_next(1, 503);
    assert_eq!(jira.get("/myself").await.0, 503);
    assert_eq!(jira.get("/myself").await.0, 200);
    jira.post("/search/jql", json!({"jql": "project = OPS"}))
        .await;

    let log = fake.requests();
    assert_eq!(log.len(), 5);
    assert_eq!(
        (log[0].method.as_str(), log[0].path.as_str()),
        ("GET", "/rest/api/3/myself")
    );
    assert_eq!(log[4].method, "POST");
    assert_eq!(
        serde_json::from_str::<Value>(&log[4].body).unwrap(),
        json!({"jql": "project = OPS"})
    );
    no_violations(&fake);
}

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
