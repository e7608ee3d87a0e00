//! `cube token create|list|revoke`: the token alone on stdout (for
//! scripts), only its hash kept, a service account made on the way, bad
//! input refused with exit code 2 and nothing made, and every change
//! audited as `cli`.

use cube_test_support as common;

use cube_host::store::Store;
use cube_host::store::users::Role;
use serde_json::Value;

use common::plugin_cli::{cube_command, ok, run, stderr};

fn cube_token(data: &std::path::Path, args: &[&str]) -> std::process::Output {
    run(cube_command(&["token"])
        .args(args)
        .args(["--data-dir", data.to_str().unwrap()])
        .env_remove("CUBE_DATABASE_URL"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_made_listed_and_revoked_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).await.unwrap();
    store
        .create_user("root", "a long admin password", Role::Admin)
        .await
        .unwrap();
    store
        .create_user("vera", "a long viewer password", Role::Viewer)
        .await
        .unwrap();

    let made = cube_token(
        dir.path(),
        &[
            "create",
            "--name",
            "deploy",
            "--service-account",
            "ci",
            "--owner",
            "root",
            "--scopes",
            "read,write",
            "--expires",
            "30d",
        ],
    );
    let secret = ok(made.clone()).trim().to_owned();
    assert!(secret.starts_with("cube_sat_"), "{secret}");
    assert!(
        stderr(&made).contains("shown this once"),
        "{}",
        stderr(&made)
    );
    let authenticated = store
        .authenticate_api_token(&secret, "127.0.0.1")
        .await
        .unwrap()
        .expect("the printed token works");
    assert_eq!(authenticated.token.owner.name(), "ci");

    // Refused, with a reason and exit code 2: a viewer cannot hold `write`,
    // an unknown scope is named, a second owner for an existing account.
    for (args, reason) in [
        (
            vec![
                "create", "--name", "x", "--user", "vera", "--scopes", "write",
            ],
            "`write`",
        ),
        (
            vec![
                "create", "--name", "x", "--user", "vera", "--scopes", "sudo",
            ],
            "`sudo`",
        ),
        (
            vec!["create", "--name", "x", "--user", "nobody"],
            "no local user",
        ),
        (
            vec![
                "create",
                "--name",
                "x",
                "--service-account",
                "ci",
                "--owner",
                "root",
            ],
            "exists already",
        ),
        (
            vec!["create", "--name", "x", "--service-account", "new-one"],
            "--owner",
        ),
        (
            vec![
                "create",
                "--name",
                "x",
                "--user",
                "vera",
                "--expires",
                "yesterday",
            ],
            "not an expiry",
        ),
    ] {
        let output = cube_token(dir.path(), &args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(reason),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    assert_eq!(
        store.api_tokens(None).await.unwrap().len(),
        1,
        "nothing else made"
    );
    assert!(
        store
            .service_account_named("new-one")
            .await
            .unwrap()
            .is_none()
    );

    let listed = ok(cube_token(dir.path(), &["list", "--json"]));
    let lines: Vec<Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["name"], "deploy");
    assert_eq!(lines[0]["status"], "live");
    assert!(
        !listed.contains(&secret[9..]),
        "the list never has the token"
    );
    let table = ok(cube_token(dir.path(), &["list"]));
    assert!(
        table.contains("deploy") && table.contains("read write"),
        "{table}"
    );

    let id = lines[0]["id"].to_string();
    let revoked = cube_token(dir.path(), &["revoke", &id]);
    assert!(stderr(&revoked).contains("revoked"), "{}", stderr(&revoked));
    assert!(revoked.status.success());
    assert!(
        store
            .authenticate_api_token(&secret, "127.0.0.1")
            .await
            .unwrap()
            .is_none()
    );
    let actions: Vec<_> = store
        .audit_entries(50)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.actor, e.action))
        .collect();
    for action in [
        "service_account.create",
        "api_token.create",
        "api_token.revoke",
    ] {
        assert!(
            actions.contains(&("cli".to_owned(), action.to_owned())),
            "{actions:?}"
        );
    }
    store.close().await;
}
