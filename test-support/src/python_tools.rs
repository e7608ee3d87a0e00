//! Running a script of the repository with the tools venv's python
//! (`scripts/setup-python-tools.sh`): the vendors' clients of the SaaS
//! fakes, and the SCIM client library that checks the host's SCIM service.

use serde_json::Value;

/// Runs `script` (a path from the repository's root) with `args` on a
/// blocking thread, so a server in this process keeps answering, and
/// parses the one JSON value it prints. `what` names the script's role in
/// a failure ("the vendor client", "the SCIM client").
pub async fn run_json(what: &str, script: &str, args: Vec<String>) -> Value {
    let root = crate::repo_root();
    let python = root.join(".tools/venv/bin/python");
    assert!(
        python.exists(),
        "the tools venv is missing at {}; run scripts/setup-python-tools.sh",
        python.display()
    );
    let script = root.join(script);
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
            .args(&args)
            .output()
            .expect("python runs")
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{what} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{what} printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}
