//! A client provisions users and groups, filters and pages them, patches
//! them the way Entra ID does, is held to ETags and to unique user names
//! across the directory, and what it provisions is a directory identity
//! the directory API shows.

use cube_test_support as common;

use common::api_tokens::token_of;

use cube_host::store::Store;
use cube_host::store::api_tokens::Scope;
use cube_host::store::integrations::IntegrationFields;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{GROUP, Scim, USER, assert_error, ids, user};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scim_client_provisions_users_and_groups_into_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    provisions(Store::open_in(dir.path()).await.unwrap()).await;
    provisions(
        Store::connect(&common::postgres_database().await)
            .await
            .unwrap(),
    )
    .await;
}

async fn provisions(store: Store) {
    let base = common::serve_admin_app_on(common::probe_catalog().await, store.clone()).await;
    let scim = Scim::new(
        &base,
        &token_of(&store, "admin", "entra", &[Scope::Scim], 10_000).await,
    );
    // A synced user of another directory holds `sync-alice`.
    let corp = common::probe_integration(
        &store,
        &IntegrationFields::new("Corp AD", Default::default()),
    )
    .await;
    let synced = common::record("user", "guid-alice", json!({"username": "sync-alice"}), "1");
    store.apply_page(corp, None, &[synced], None).await.unwrap();

    let config = scim.get("/ServiceProviderConfig").await;
    assert_eq!(config.status, StatusCode::OK);
    assert_eq!(config.body["patch"]["supported"], true);
    assert_eq!(config.body["etag"]["supported"], true);
    assert_eq!(config.body["bulk"]["supported"], false);
    let types = scim.get("/ResourceTypes").await;
    assert_eq!(types.body["totalResults"], 2);
    let schema = scim.get(&format!("/Schemas/{USER}")).await;
    assert_eq!(schema.body["attributes"][0]["name"], "userName");

    // Create: 201, Location, ETag, the password not kept.
    let made = scim
        .post("/Users", user("bjensen", "Barbara", "Jensen"))
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let id = made.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        made.headers["location"],
        made.body["meta"]["location"].as_str().unwrap()
    );
    assert!(
        made.headers["location"]
            .to_str()
            .unwrap()
            .ends_with(&format!("/scim/v2/Users/{id}"))
    );
    assert_eq!(made.headers["etag"], "W/\"1\"");
    assert_eq!(made.body["meta"]["version"], "W/\"1\"");
    assert_eq!(made.body["meta"]["resourceType"], "User");
    assert!(made.body.get("password").is_none(), "{}", made.body);
    assert_eq!(made.body["active"], true);

    // userName is unique without case, across the directory.
    assert_error(
        &scim.post("/Users", user("BJensen", "B", "J")).await,
        StatusCode::CONFLICT,
        Some("uniqueness"),
    );
    assert_error(
        &scim.post("/Users", user("Sync-Alice", "A", "S")).await,
        StatusCode::CONFLICT,
        Some("uniqueness"),
    );

    for (name, given, family) in [("ajones", "Ann", "Jones"), ("cwu", "Chen", "Wu")] {
        assert_eq!(
            scim.post("/Users", user(name, given, family)).await.status,
            StatusCode::CREATED
        );
    }

    // Filters, paging, attributes.
    let found = scim
        .get("/Users?filter=userName%20eq%20%22BJENSEN%22")
        .await;
    assert_eq!(found.body["totalResults"], 1, "{}", found.body);
    assert_eq!(found.body["Resources"][0]["id"], id.as_str());
    let found = scim
        .get("/Users?filter=name.familyName%20co%20%22on%22%20and%20active%20eq%20true")
        .await;
    assert_eq!(ids(&found.body), ["ajones"], "{}", found.body);
    let found = scim
        .get("/Users?filter=not%20(userName%20sw%20%22a%22)")
        .await;
    assert_eq!(ids(&found.body), ["bjensen", "cwu"]);
    let page = scim.get("/Users?startIndex=2&count=1").await;
    assert_eq!(page.body["totalResults"], 3);
    assert_eq!(page.body["startIndex"], 2);
    assert_eq!(ids(&page.body), ["ajones"]);
    let slim = scim.get(&format!("/Users/{id}?attributes=userName")).await;
    assert_eq!(
        slim.body,
        json!({"schemas": [USER], "id": id, "userName": "bjensen"})
    );
    assert_error(
        &scim.get("/Users?filter=userName%20eq").await,
        StatusCode::BAD_REQUEST,
        Some("invalidFilter"),
    );

    // PATCH as Entra ID sends it: the directory sees the user disabled.
    let patched = scim
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "Replace", "path": "active", "value": "False"},
                   {"op": "Add", "value": {"name.givenName": "Babs", "title": "Engineer"}}]),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["active"], false);
    assert_eq!(patched.body["name"]["givenName"], "Babs");
    assert_eq!(patched.headers["etag"], "W/\"2\"");
    let reader = token_of(&store, "admin", "reader", &[Scope::DirectoryRead], 10_000).await;
    let (_, listed) = common::client::Bearer::new(&base, &reader)
        .json(Method::GET, "/api/v1/directory/users?q=bjensen", None)
        .await;
    let listed = &listed["users"][0];
    assert_eq!(listed["username"], "bjensen", "{listed}");
    assert_eq!(listed["enabled"], false, "{listed}");

    // ETags: a stale If-Match is refused and changes nothing; a current
    // If-None-Match is 304.
    let stale = scim
        .call(
            Method::PUT,
            &format!("/Users/{id}"),
            Some(user("bjensen", "X", "Y")),
            &[("if-match", "W/\"1\"")],
        )
        .await;
    assert_error(&stale, StatusCode::PRECONDITION_FAILED, None);
    assert_eq!(
        scim.get(&format!("/Users/{id}")).await.body["name"]["givenName"],
        "Babs"
    );
    let same = scim
        .call(
            Method::GET,
            &format!("/Users/{id}"),
            None,
            &[("if-none-match", "W/\"2\"")],
        )
        .await;
    assert_eq!(same.status, StatusCode::NOT_MODIFIED);
    let put = scim
        .call(
            Method::PUT,
            &format!("/Users/{id}"),
            Some(user("bjensen", "Barbara", "Jensen")),
            &[("if-match", "W/\"2\"")],
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(put.body["active"], true);

    // Groups: members are this client's users and groups; nesting shows
    // in a user's groups as indirect.
    let ops = scim
        .post(
            "/Groups",
            json!({"schemas": [GROUP], "displayName": "Ops", "members": [{"value": id}]}),
        )
        .await;
    assert_eq!(ops.status, StatusCode::CREATED, "{}", ops.body);
    let ops_id = ops.body["id"].as_str().unwrap().to_owned();
    assert_eq!(ops.body["members"][0]["value"], id.as_str());
    assert_eq!(ops.body["members"][0]["display"], "Barbara Jensen");
    let all = scim
        .post(
            "/Groups",
            json!({"schemas": [GROUP], "displayName": "Everyone", "members": [{"value": ops_id}]}),
        )
        .await;
    let all_id = all.body["id"].as_str().unwrap().to_owned();
    let groups = scim.get(&format!("/Users/{id}")).await.body["groups"].clone();
    let mut groups: Vec<(String, String)> = groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["value"].as_str().unwrap().to_owned(),
                g["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    groups.sort_by_key(|(g, _)| g != &ops_id);
    assert_eq!(
        groups,
        [
            (ops_id.clone(), "direct".to_owned()),
            (all_id.clone(), "indirect".to_owned())
        ]
    );
    let found = scim
        .get(&format!("/Users?filter=groups%20eq%20%22{all_id}%22"))
        .await;
    assert_eq!(ids(&found.body), ["bjensen"], "{}", found.body);
    let foreign = scim
        .post(
            "/Groups",
            json!({"displayName": "Bad", "members": [{"value": "guid-alice"}]}),
        )
        .await;
    assert_error(&foreign, StatusCode::BAD_REQUEST, Some("invalidValue"));

    // Members removed by a value filter, added in a batch.
    let removed = scim
        .patch(
            &format!("/Groups/{ops_id}"),
            json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]),
        )
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    assert_eq!(removed.body["members"], json!([]));
    assert!(
        scim.get(&format!("/Users/{id}"))
            .await
            .body
            .get("groups")
            .is_none()
    );
    let others: Vec<String> = ids(&scim
        .get("/Users?filter=userName%20ne%20%22bjensen%22")
        .await
        .body);
    let mut values = Vec::new();
    for name in &others {
        let found = scim
            .get(&format!("/Users?filter=userName%20eq%20%22{name}%22"))
            .await;
        values.push(json!({"value": found.body["Resources"][0]["id"]}));
    }
    let added = scim
        .patch(
            &format!("/Groups/{ops_id}"),
            json!([{"op": "add", "path": "members", "value": values}]),
        )
        .await;
    assert_eq!(
        added.body["members"].as_array().unwrap().len(),
        2,
        "{}",
        added.body
    );
    let slim = scim
        .get(&format!("/Groups/{ops_id}?excludedAttributes=members"))
        .await;
    assert!(slim.body.get("members").is_none());
    assert_eq!(slim.body["displayName"], "Ops");

    // Delete: gone from SCIM and from its groups.
    let ajones = scim
        .get("/Users?filter=userName%20eq%20%22ajones%22")
        .await
        .body["Resources"][0]["id"]
        .clone();
    let gone = scim
        .call(
            Method::DELETE,
            &format!("/Users/{}", ajones.as_str().unwrap()),
            None,
            &[],
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    assert_error(
        &scim
            .get(&format!("/Users/{}", ajones.as_str().unwrap()))
            .await,
        StatusCode::NOT_FOUND,
        None,
    );
    assert_eq!(
        scim.get(&format!("/Groups/{ops_id}")).await.body["members"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Each write is audited under the token's name.
    for action in [
        "scim.user.created",
        "scim.user.patched",
        "scim.user.replaced",
        "scim.user.deleted",
        "scim.group.created",
        "scim.group.patched",
    ] {
        let entries = common::audit_log::audited(&store, action).await;
        assert!(
            entries.iter().any(|e| e.actor == "admin (token entra)"),
            "{action} not audited: {entries:?}"
        );
    }
    store.close().await;
}
