//! The fake Jira itself, searching on Cloud: real HTTP requests paging
//! through `/search/jql` with tokens, and JQL filtering and ordering like
//! Jira's.

use cube_test_support as common;

use std::time::Duration;

use common::fake_jira::{Edition, FakeJira};
use common::jira_client::{Jira, first_error, no_violations};
use serde_json::{Value, json};

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
    assert!(first_error(&body).starts_with("Unbounded JQL"));
    let (status, body) = jira
        .post("/search/jql", json!({"jql": "project = OPS AND"}))
        .await;
    assert_eq!(status, 400);
    assert!(
        first_error(&body).starts_with("Error in the JQL Query:"),
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
    assert!(first_error(&body).contains("Date value"), "{body}");
    for (jql, message) in [
        ("project = NOPE", "does not exist for the field 'project'"),
        ("frobnicate = 1", "Field 'frobnicate' does not exist"),
        ("project = OPS ORDER BY", "Error in the JQL Query"),
        ("summary = Alpha", "operator '=' is not supported"),
        (r#"project = "OPS"#, "Error in the JQL Query"),
    ] {
        let (status, body) = search(jql).await;
        assert_eq!(status, 400, "{jql}");
        assert!(first_error(&body).contains(message), "{jql}: {body}");
    }
    no_violations(&fake);
}
