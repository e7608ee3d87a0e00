//! The fake Jira itself on Data Center: real HTTP requests against its
//! v2 API, with a personal access token.

use cube_test_support as common;

use common::fake_jira::{Edition, FakeJira};
use common::jira_client::{Jira, doc, no_violations};
use serde_json::json;

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
    let v3 = Jira {
        api: format!("{}/rest/api/3", fake.base_url()),
        ..Jira::new(&fake)
    };
    assert_eq!(v3.get("/myself").await.0, 400);
    assert_eq!(fake.violations().len(), 2, "{:#?}", fake.violations());
}
