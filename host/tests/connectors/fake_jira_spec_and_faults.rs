//! The fake Jira itself, keeping to the vendor's contract: real HTTP
//! requests that break the OpenAPI description are recorded and refused,
//! and faults (rate limits, failures) can be injected, with every request
//! logged.

use cube_test_support as common;

use common::fake_jira::{Edition, FakeJira};
use common::jira_client::{Jira, doc, first_error, no_violations};
use serde_json::{Value, json};

#[tokio::test]
async fn requests_against_the_spec_are_recorded_and_refused() {
    let fake = FakeJira::start(Edition::Cloud).await;
    let jira = Jira::new(&fake);
    let key = fake.create_issue_remote("OPS", "Something");

    let (status, body) = jira.get(&format!("/issue/{key}?frobnicate=1")).await;
    assert_eq!(status, 400);
    assert!(first_error(&body).contains("frobnicate"));
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
            json!({"transition": {"id": true}}),
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
    let v2 = Jira {
        api: format!("{}/rest/api/2", fake.base_url()),
        ..Jira::new(&fake)
    };
    assert_eq!(v2.get("/myself").await.0, 400);

    let violations = fake.violations();
    let expect = [
        "GET /rest/api/3/issue/OPS-1?frobnicate=1: query parameter 'frobnicate' is not declared",
        "GET /rest/api/3/search/jql?jql=project%3DOPS&maxResults=lots: query parameter maxResults: 'lots' is not of type integer",
        "POST /rest/api/3/search/jql: body.startAt: unknown property (additionalProperties is false)",
        "POST /rest/api/3/issue/OPS-1/comment: body.id: is read-only and must not be sent",
        "POST /rest/api/3/issue/OPS-1/transitions: body.transition.id: expected string, got boolean",
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
async fn a_number_where_a_string_is_declared_is_taken_as_jira_takes_it_with_a_warning() {
    let fake = FakeJira::start(Edition::Cloud).await;
    let jira = Jira::new(&fake);
    let key = fake.create_issue_remote("OPS", "Something");

    let (status, _) = jira
        .post(
            &format!("/issue/{key}/transitions"),
            json!({"transition": {"id": 31}}),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(fake.issue(&key).unwrap().status, "Done");
    no_violations(&fake);
    assert_eq!(
        fake.warnings(),
        [format!(
            "POST /rest/api/3/issue/{key}/transitions: body.transition.id: a number where the \
             description declares a string (Jira coerces it)"
        )]
    );
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
