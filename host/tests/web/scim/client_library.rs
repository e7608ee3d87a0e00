//! scim2-client drives the service (`tests/scim/client.py`).

use cube_test_support as common;

use common::api_tokens::token_of;

use cube_host::store::api_tokens::Scope;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scim2_client_library_provisions_through_the_service() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let token = token_of(&store, "admin", "scim2-client", &[Scope::Scim], 10_000).await;
    let seen = common::python_tools::run_json(
        "the SCIM client",
        "tests/scim/client.py",
        vec![format!("{base}/scim/v2"), token],
    )
    .await;
    assert_eq!(seen["resource_types"], json!(["Group", "User"]));
    let id = seen["created"]["id"].as_str().unwrap();
    assert_eq!(seen["created"]["user_name"], "grace@corp.example");
    assert_eq!(seen["created"]["version"], "W/\"1\"");
    assert_eq!(seen["created"]["department"], "Navy");
    assert_eq!(
        seen["duplicate"],
        json!({"status": 409, "scim_type": "uniqueness"})
    );
    assert_eq!(seen["found"], json!([id]));
    assert_eq!(seen["group"]["members"], json!([id]));
    assert_eq!(
        seen["patched"],
        json!({"active": false, "version": "W/\"2\""})
    );
    assert_eq!(
        seen["replaced"]["display_name"],
        "Rear Admiral Grace Hopper"
    );
    assert_eq!(seen["replaced"]["groups"], json!([seen["group"]["id"]]));
    assert_eq!(seen["after_delete"], 404);
    // The writes went through the store: the audit log has each of them.
    assert_eq!(
        common::audit_log::audited(&store, "scim.user.deleted")
            .await
            .len(),
        1
    );
    assert_eq!(
        common::audit_log::audited(&store, "scim.group.created")
            .await
            .len(),
        1
    );
}
