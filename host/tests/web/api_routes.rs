//! The OpenAPI document against the router, route by route: every
//! `/api/v1` path the sources name is documented, every documented
//! operation exists (and no other method on its path does), and each
//! enforces the scope it documents: a token with a lesser scope is
//! refused naming it, one with it gets past the check.

use cube_test_support as common;

use cube_host::store::api_tokens::Scope;
use reqwest::StatusCode;
use serde_json::{Value, json};

use common::api_tokens::token_of;
use common::client::Bearer;

/// Every `/api/v1` path the router's sources name, from the sources.
fn routed_paths() -> std::collections::BTreeSet<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web/api");
    let mut paths = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for piece in source.split('"').skip(1).step_by(2) {
            if piece.starts_with("/api/v1/") {
                paths.insert(piece.to_owned());
            }
        }
    }
    paths
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_documented_with_the_scope_it_enforces() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let spec = reqwest::get(format!("{base}/api/v1/openapi.json"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let spec: Value = serde_json::from_str(&spec).unwrap();
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let documented: std::collections::BTreeMap<String, Value> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // An undocumented route fails here; a documented one that does not
    // exist fails below (it answers 404, not 401).
    let routed = routed_paths();
    assert!(routed.len() > 20, "{routed:?}");
    let undocumented: Vec<_> = routed
        .iter()
        .filter(|p| !documented.contains_key(*p))
        .collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from openapi.json: {undocumented:?}"
    );

    let mut tokens = std::collections::BTreeMap::new();
    for scope in [
        Scope::Read,
        Scope::Write,
        Scope::Admin,
        Scope::DirectoryRead,
    ] {
        let name = scope.as_str().replace(':', "-");
        let secret = token_of(&store, "admin", &name, &[scope], 10_000).await;
        tokens.insert(scope.as_str(), Bearer::new(&base, &secret));
    }
    let anonymous = reqwest::Client::new();
    let methods = ["get", "post", "put", "patch", "delete"];
    for (path, item) in &documented {
        let url_path = path
            .split('/')
            .map(|part| if part.starts_with('{') { "1" } else { part })
            .collect::<Vec<_>>()
            .join("/");
        for method in methods {
            let http_method: reqwest::Method = method.to_uppercase().parse().unwrap();
            let status = anonymous
                .request(http_method.clone(), format!("{base}{url_path}"))
                .send()
                .await
                .unwrap()
                .status();
            let Some(operation) = item.get(method) else {
                assert_eq!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is not documented"
                );
                continue;
            };
            let security = operation["security"]
                .as_array()
                .unwrap_or_else(|| panic!("{method} {path} names its security"));
            if security.is_empty() {
                assert_eq!(status, StatusCode::OK, "{method} {path} is public");
                continue;
            }
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} exists and wants a caller"
            );
            let Some(scope) = security
                .iter()
                .find_map(|s| s["bearer"].as_array())
                .and_then(|scopes| scopes.first())
                .and_then(|s| s.as_str())
            else {
                continue; // session only (GET /api/v1/session)
            };
            // A token with a scope that does not include it is refused,
            // naming the scope; one with it gets past the check.
            let lesser = match scope {
                "read" => "directory:read",
                "write" => "read",
                "admin" => "write",
                "directory:read" => "read",
                other => panic!("{method} {path}: unknown scope {other}"),
            };
            let body = (method != "get" && method != "delete").then(|| json!({}));
            let refused = tokens[lesser]
                .send(http_method.clone(), &url_path, body.clone())
                .await;
            assert_eq!(
                refused.status(),
                StatusCode::FORBIDDEN,
                "{method} {path} with {lesser}"
            );
            assert_eq!(
                refused.headers()["www-authenticate"],
                format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\""),
                "{method} {path}"
            );
            let allowed = tokens[scope]
                .send(http_method, &url_path, body)
                .await
                .status();
            assert!(
                ![
                    StatusCode::UNAUTHORIZED,
                    StatusCode::FORBIDDEN,
                    StatusCode::METHOD_NOT_ALLOWED
                ]
                .contains(&allowed),
                "{method} {path} with {scope}: {allowed}"
            );
        }
    }
}
