//! scim2-client drives the service (`tests/scim/client.py`).

use cube_test_support as common;

use common::api_tokens::token_of;

use cube_host::store::api_tokens::Scope;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scim2_client_library_provisions_through_the_service() {
    let (base, store, _dir) = common::serve_admin_app(common::probe_catalog().await).await;
    let token = token_of(&store, "admin", "scim2-client", &[Scope::Scim], 10_000).await;
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join(".tools/venv/bin/python");
    assert!(
        python.exists(),
        "the tools venv is missing; run scripts/setup-python-tools.sh"
    );
    let script = root.join("tests/scim/client.py");
    let url = format!("{base}/scim/v2");
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
            .arg(url)
            .arg(token)
            .output()
            .expect("python runs")
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "the SCIM client failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
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
