//! The test services that a script in `scripts/` starts and stops (slapd,
//! Samba): running the script, and reading the `NAME=value` lines it prints
//! (the service's coordinates).

use std::collections::HashMap;

/// Runs `scripts/<script>` with `args`; panics if it fails. Returns the
/// `NAME=value` lines it printed.
pub fn run(script: &str, args: &[&str]) -> HashMap<String, String> {
    let output = std::process::Command::new(super::repo_root().join("scripts").join(script))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running scripts/{script}: {e}"));
    assert!(
        output.status.success(),
        "scripts/{script} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// The coordinate `name` of `coordinates`, which `scripts/<script>`
/// printed; panics if it printed none.
pub fn coordinate(coordinates: &HashMap<String, String>, script: &str, name: &str) -> String {
    coordinates
        .get(name)
        .unwrap_or_else(|| panic!("{script} printed no {name}"))
        .clone()
}
