mod common;
use std::collections::BTreeMap;
use std::sync::Arc;
use cube_host::integrations::seal_secrets;
use cube_host::runtime::LdapGrant;
use cube_host::secrets::{MasterKey, Sealer};
use cube_host::store::Store;
use cube_host::store::integrations::IntegrationFields;
use common::slapd;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe() {
    let data = tempfile::tempdir().unwrap();
    let (key, _) = MasterKey::load(data.path()).unwrap();
    let sealer = Arc::new(Sealer::new(&key));
    let store = Store::open_in(data.path()).await.unwrap();
    let names = ["active-directory", "jira", "rest", "servicenow", "slack"];
    let catalog = common::plugin_catalog(&names).await;
    let connectors = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    for n in names { std::fs::copy(root.join(format!("target/test-components/{n}.wasm")), connectors.path().join(format!("{n}.wasm"))).unwrap(); }
    let (connector, info) = catalog.get("active-directory").unwrap();
    store.upsert_provider(&info, connector.digest()).await.unwrap();
    let port = slapd::ports().0;
    let mut ldap = slapd::admin().await;
    let ou = common::directory::subtree(&mut ldap, "CliProbe").await;
    for i in 0..20 { common::directory::add_user(&mut ldap, &format!("cn=p{i},{ou}"), &format!("p{i}"), "pw-Secret-1", true).await; }
    let fields = IntegrationFields {
        name: "Directory".into(), enabled: true,
        config: json!({"server": "127.0.0.1", "port": port, "tls": "starttls", "ca_pem": slapd::ca_pem(),
            "bind_dn": slapd::env("CUBE_TEST_LDAP_BIND_DN"), "base_dn": ou,
            "user_filter": "(objectClass=user)", "page_size": 100}).as_object().unwrap().clone(),
        http_grants: Vec::new(),
        ldap_grants: vec![LdapGrant::parse(&format!("ldap://127.0.0.1:{port}")).unwrap()],
        sync_interval_secs: None, disable_after_failures: None, sync_cron: None,
    };
    let secrets = BTreeMap::from([("password".to_owned(), slapd::env("CUBE_TEST_LDAP_BIND_PASSWORD"))]);
    store.create_integration("active-directory", &fields, "admin", |id| seal_secrets(&sealer, id, &secrets)).await.unwrap();
    store.close().await;
    for args in [vec!["Directory", "--full"], vec!["Directory"], vec!["Directory"]] {
        let t = std::time::Instant::now();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cube")).arg("sync").args(&args)
            .args(["--data-dir", data.path().to_str().unwrap(), "--connectors", connectors.path().to_str().unwrap()])
            .env_remove("CUBE_MASTER_KEY").env("CUBE_LOG", "debug,wasmtime=warn,cranelift=warn,sqlx=warn").output().unwrap();
        eprintln!("PROBE {args:?} {:?}\n{}\n{}", t.elapsed(), String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
}
