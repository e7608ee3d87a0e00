//! Shared helpers for the host's integration tests (`host/tests`, which
//! use this crate as `common`): real components, built from source on
//! first use, and a real runtime; the test slapd, Samba AD DC and
//! PostgreSQL; and the fakes of Jira, Slack and ServiceNow, which follow
//! the vendors' published contracts (`fixtures/`).

pub mod api_tokens;
pub mod audit_log;
pub mod client;
pub mod connector_setup;
pub mod directory;
pub mod directory_sign_in;
pub mod fake_ad;
pub mod fake_http;
pub mod fake_jira;
pub mod fake_servicenow;
pub mod fake_slack;
pub mod jira_client;
pub mod ldap_edit;
pub mod marketplace;
pub mod marketplace_ui;
pub mod plugin_cli;
pub mod proxy;
pub mod python_tools;
pub mod rest_api;
pub mod samba;
pub mod samba_sync;
pub mod slapd;
pub mod store_rows;
pub mod sync_setup;
pub mod synced_directory;
pub mod test_service;
pub mod web_forms;
pub mod webhook_sender;
pub mod work_order_push_app;
pub mod work_order_remote;

pub use sync_setup::SyncSetup;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cube_host::runtime::{Connector, Runtime};

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The probe component (tests/components/probe), built once per test binary
/// with the same build `cube plugin build` uses, so it is never stale.
pub fn probe_wasm() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let out = repo_root().join("target/test-components");
        let built = cube_host::plugin::build::build(
            &[repo_root().join("tests/components/probe")],
            Some(&out),
        )
        .expect("building the probe component (see README: scripts/setup-wasm-toolchain.sh)");
        std::fs::read(&built[0].path).unwrap()
    })
}

/// A first-party connector (`plugins/NAME`), built once per test binary
/// with the same build `cube plugin build` uses.
pub fn plugin_wasm(name: &str) -> Vec<u8> {
    static BUILT: OnceLock<std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>> =
        OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap();
    built
        .entry(name.to_owned())
        .or_insert_with(|| {
            let out = repo_root().join("target/test-components");
            let artifacts = cube_host::plugin::build::build(
                &[repo_root().join("plugins").join(name)],
                Some(&out),
            )
            .unwrap_or_else(|e| panic!("building plugins/{name}: {e:#}"));
            std::fs::read(&artifacts[0].path).unwrap()
        })
        .clone()
}

/// A catalog holding the first-party connectors `names` (`plugins/NAME`).
pub async fn plugin_catalog(names: &[&str]) -> cube_host::web::Catalog {
    catalog_of(
        names
            .iter()
            .map(|name| (*name, plugin_wasm(name)))
            .collect(),
    )
    .await
}

/// A catalog loaded from a temporary directory holding `components` (each
/// a name and its wasm bytes).
async fn catalog_of(components: Vec<(&str, Vec<u8>)>) -> cube_host::web::Catalog {
    let dir = tempfile::tempdir().unwrap();
    for (name, wasm) in components {
        std::fs::write(dir.path().join(format!("{name}.wasm")), wasm).unwrap();
    }
    let catalog = cube_host::web::Catalog::new();
    catalog
        .clone()
        .load_dirs(runtime(), vec![dir.path().to_path_buf()])
        .await;
    catalog
}

/// A runtime with pooling, like the server's.
pub fn runtime() -> Runtime {
    Runtime::builder().max_instances(16).build().unwrap()
}

pub fn probe(runtime: &Runtime) -> Connector {
    runtime.load(probe_wasm()).unwrap()
}

/// A record as a connector returns it (not deleted): of `kind`, with the
/// external id `id`, `fields` and `version`.
pub fn record(
    kind: &str,
    id: &str,
    fields: serde_json::Value,
    version: &str,
) -> cube_host::runtime::types::Record {
    cube_host::runtime::types::Record {
        kind: kind.into(),
        external_id: id.into(),
        fields: fields.to_string(),
        deleted: false,
        version: Some(version.into()),
    }
}

/// What the probe component says of itself.
async fn probe_info() -> cube_host::runtime::types::ConnectorInfo {
    let runtime = runtime();
    probe(&runtime)
        .info(&runtime.context("t"))
        .await
        .result
        .unwrap()
}

/// Registers the probe component as a provider in `store`, as its own
/// info describes it, so that integrations of it can be created.
pub async fn register_probe(store: &cube_host::store::Store) {
    store
        .upsert_provider(&probe_info().await, "sha256:test")
        .await
        .unwrap();
}

/// An integration of the probe component with `fields` and no secrets in
/// `store` (registering the probe first); returns its id.
pub async fn probe_integration(
    store: &cube_host::store::Store,
    fields: &cube_host::store::integrations::IntegrationFields,
) -> i64 {
    store_rows::integration_of(store, &probe_info().await, fields).await
}

/// A Python connector built with componentize-py from
/// tests/components/python-probe, built once per test binary, against the
/// `http-connector` world (componentize-py imports every interface of its
/// world, and the probe reaches no directory).
pub fn python_probe_wasm() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let root = repo_root();
        let tool = root.join(".tools/venv/bin/componentize-py");
        assert!(
            tool.is_file(),
            "componentize-py is not installed at {}; run scripts/setup-python-tools.sh",
            tool.display()
        );
        let out_dir = root.join("target/test-components");
        std::fs::create_dir_all(&out_dir).unwrap();
        let out = out_dir.join("python-probe.wasm");
        // Built under a name of its own, then renamed: test processes that
        // run in parallel never see half a file.
        let tmp = out_dir.join(format!("python-probe.wasm.tmp-{}", std::process::id()));
        let src = root.join("tests/components/python-probe");
        let status = std::process::Command::new(&tool)
            .arg("-d")
            .arg(root.join("wit"))
            .args(["-w", "http-connector", "componentize", "app", "-p"])
            .arg(&src)
            .arg("-o")
            .arg(&tmp)
            .status()
            .expect("running componentize-py");
        assert!(status.success(), "componentize-py failed: {status}");
        std::fs::rename(&tmp, &out).unwrap();
        out
    })
    .clone()
}

/// A fresh, empty PostgreSQL database on the test server that
/// `scripts/test-postgres.sh` runs (started on first use), as a URL.
pub async fn postgres_database() -> String {
    use sqlx::Connection;
    use std::sync::atomic::{AtomicUsize, Ordering};
    static SERVER: OnceLock<String> = OnceLock::new();
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let server = SERVER.get_or_init(|| {
        let output = std::process::Command::new(repo_root().join("scripts/test-postgres.sh"))
            .arg("start")
            .output()
            .expect("running scripts/test-postgres.sh");
        assert!(
            output.status.success(),
            "cannot start the test PostgreSQL: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    });
    let name = format!(
        "cube_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    sqlx::any::install_default_drivers();
    let mut admin = sqlx::AnyConnection::connect(server).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    let base = server.rsplit_once('/').unwrap().0;
    format!("{base}/{name}")
}

/// Runs `test` against a fresh store of each backend: SQLite in a temporary
/// directory, and PostgreSQL.
pub async fn each_backend<F, Fut>(test: F)
where
    F: Fn(cube_host::store::Store) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let sqlite = cube_host::store::Store::open_in(dir.path()).await.unwrap();
    test(sqlite.clone()).await;
    sqlite.close().await;
    let postgres = cube_host::store::Store::connect(&postgres_database().await)
        .await
        .unwrap();
    test(postgres.clone()).await;
    postgres.close().await;
}

pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
pub const VIEWER_PASSWORD: &str = "viewer password 2026";

/// The admin web app on 127.0.0.1 with an embedded store holding two users
/// (`admin` and the viewer `vera`, with the passwords above) and the
/// connectors of `catalog`. Returns its base URL, the store, and the
/// directory that holds the store (keep it alive).
pub async fn serve_admin_app(
    catalog: cube_host::web::Catalog,
) -> (String, cube_host::store::Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = cube_host::store::Store::open_in(dir.path()).await.unwrap();
    let base = serve_admin_app_on(catalog, store.clone()).await;
    (base, store, dir)
}

/// [`serve_admin_app`] whose own HTTP clients (outbound webhooks, installs
/// from a URL) may reach `private_hosts` (`--allow-private-host`), like
/// `localhost` for receivers on 127.0.0.1.
pub async fn serve_admin_app_reaching(
    catalog: cube_host::web::Catalog,
    private_hosts: &[&str],
) -> (String, cube_host::store::Store, tempfile::TempDir) {
    serve_admin_app_in_data_dir(catalog, None, private_hosts).await
}

/// [`serve_admin_app_configured`] on a fresh store in a temporary
/// directory that is also its data directory; returns its base URL, the
/// store and the directory (keep it alive).
async fn serve_admin_app_in_data_dir(
    catalog: cube_host::web::Catalog,
    registry: Option<cube_host::marketplace::source::RegistrySource>,
    private_hosts: &[&str],
) -> (String, cube_host::store::Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = cube_host::store::Store::open_in(dir.path()).await.unwrap();
    let base = serve_admin_app_configured(
        catalog,
        store.clone(),
        registry,
        Some(dir.path().to_path_buf()),
        private_hosts,
    )
    .await;
    (base, store, dir)
}

/// The admin web app on `store` (with the two test users added), as
/// [`serve_admin_app`]; returns its base URL.
pub async fn serve_admin_app_on(
    catalog: cube_host::web::Catalog,
    store: cube_host::store::Store,
) -> String {
    serve_admin_app_configured(catalog, store, None, None, &[]).await
}

/// The admin web app as [`serve_admin_app`], with the connector registry
/// `registry` on its marketplace page; its data directory (trusted keys,
/// installed connectors) is the returned directory, which also holds the
/// store.
pub async fn serve_admin_app_with_registry(
    catalog: cube_host::web::Catalog,
    registry: &Path,
) -> (String, cube_host::store::Store, tempfile::TempDir) {
    let registry = cube_host::marketplace::source::RegistrySource::Dir(registry.to_path_buf());
    serve_admin_app_in_data_dir(catalog, Some(registry), &[]).await
}

/// The admin web app as [`serve_admin_app_with_registry`], with any kind of
/// registry (a URL serving one, for example), its own HTTP clients allowed
/// to reach `private_hosts`.
pub async fn serve_admin_app_with_source(
    catalog: cube_host::web::Catalog,
    registry: cube_host::marketplace::source::RegistrySource,
    private_hosts: &[&str],
) -> (String, cube_host::store::Store, tempfile::TempDir) {
    serve_admin_app_in_data_dir(catalog, Some(registry), private_hosts).await
}

/// [`serve_admin_app_on`] with a registry, a data directory, and the
/// private hosts its own HTTP clients may reach.
pub async fn serve_admin_app_configured(
    catalog: cube_host::web::Catalog,
    store: cube_host::store::Store,
    registry: Option<cube_host::marketplace::source::RegistrySource>,
    data_dir: Option<PathBuf>,
    private_hosts: &[&str],
) -> String {
    let access = cube_host::web::access::Access::new(rand_key());
    serve_admin_app_inner(
        catalog,
        store,
        registry,
        data_dir,
        private_hosts,
        access,
        false,
    )
    .await
}

/// A random 32-byte key.
pub fn rand_key() -> [u8; 32] {
    cube_host::secrets::MasterKey::generate().derive("tests")
}

/// The admin web app with edge settings of the test's own (trusted
/// proxies, the password pool, the sign-in policy, a metrics token) and
/// whether every cookie is `Secure`.
pub async fn serve_admin_app_full(
    catalog: cube_host::web::Catalog,
    store: cube_host::store::Store,
    registry: Option<cube_host::marketplace::source::RegistrySource>,
    data_dir: Option<PathBuf>,
    access: cube_host::web::access::Access,
    secure_cookies: bool,
) -> String {
    serve_admin_app_inner(
        catalog,
        store,
        registry,
        data_dir,
        &[],
        access,
        secure_cookies,
    )
    .await
}

async fn serve_admin_app_inner(
    catalog: cube_host::web::Catalog,
    store: cube_host::store::Store,
    registry: Option<cube_host::marketplace::source::RegistrySource>,
    data_dir: Option<PathBuf>,
    private_hosts: &[&str],
    access: cube_host::web::access::Access,
    secure_cookies: bool,
) -> String {
    let hosts: Vec<String> = private_hosts.iter().map(|h| h.to_string()).collect();
    let settings = cube_host::net::OutboundSettings::parse(&hosts, None).unwrap();
    let outbound = std::sync::Arc::new(cube_host::net::Outbound::new(&settings));
    use cube_host::store::users::Role;
    // Server-side errors show in the failing test's output.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("cube_host=warn")
        .try_init();
    // A second node on the same database finds them there.
    for (name, password, role) in [
        ("admin", ADMIN_PASSWORD, Role::Admin),
        ("vera", VIEWER_PASSWORD, Role::Viewer),
    ] {
        if store.user_named(name).await.unwrap().is_none() {
            store.create_user(name, password, role).await.unwrap();
        }
    }
    let runtime = runtime();
    let sealer = std::sync::Arc::new(cube_host::secrets::Sealer::new(
        &cube_host::secrets::MasterKey::generate(),
    ));
    let sync = cube_host::sync::SyncQueue::new();
    tokio::spawn(cube_host::worker::run(
        cube_host::sync::SyncDeps {
            store: store.clone(),
            catalog: catalog.clone(),
            runtime: runtime.clone(),
            sealer: sealer.clone(),
            retry: Default::default(),
            outbound: outbound.clone(),
            events: sync.events.clone(),
            lease_ms: cube_host::sync::LEASE_MS,
        },
        sync.clone(),
        Default::default(),
    ));
    let app = cube_host::web::router(cube_host::web::AppState {
        catalog,
        store: store.clone(),
        runtime,
        sealer: sealer.clone(),
        sync,
        intake: cube_host::webhooks::Intake::start(store.clone()),
        endpoints: cube_host::webhooks::Endpoints::new(store.clone(), sealer.clone()),
        secure_cookies,
        access,
        public_url: None,
        lease_ms: cube_host::sync::LEASE_MS,
        registry,
        outbound,
        data_dir,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap()
    });
    base
}

/// A catalog holding the probe connector.
pub async fn probe_catalog() -> cube_host::web::Catalog {
    catalog_of(vec![("probe", probe_wasm().to_vec())]).await
}

/// Polls `check` every 50 ms until it finds something, for up to a minute
/// (work done by background workers: pushes, retries after a backoff).
pub async fn eventually<T>(what: &str, check: impl AsyncFnMut() -> Option<T>) -> T {
    poll_until(1200, check, Option::is_some)
        .await
        .unwrap_or_else(|| panic!("timed out waiting for {what}"))
}

/// Reads `read` every 50 ms, `tries` times at the most, until `done` holds
/// of what it read; returns the last reading, for the caller to assert on.
pub async fn poll_until<T>(
    tries: usize,
    mut read: impl AsyncFnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let mut reading = read().await;
    for _ in 1..tries {
        if done(&reading) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        reading = read().await;
    }
    reading
}

/// A sync's end as the sync engine would record it: job 0 in `mode`,
/// succeeded or failed, with nothing read.
pub fn sync_ended(mode: &str, succeeded: bool) -> cube_host::store::integrations::SyncEnded<'_> {
    cube_host::store::integrations::SyncEnded {
        job_id: 0,
        mode,
        status: if succeeded { "succeeded" } else { "failed" },
        message: "",
        counts: Default::default(),
    }
}

/// Waits until no sync job of `integration` is queued or running.
pub async fn wait_for_syncs(store: &cube_host::store::Store, integration: i64) {
    let idle = poll_until(
        600,
        async || store.pending_job(integration).await.unwrap().is_none(),
        |idle| *idle,
    )
    .await;
    assert!(
        idle,
        "the sync of integration {integration} did not finish within 30 s"
    );
}

/// A port on 127.0.0.1 where nothing listens.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A tiny HTTP server on 127.0.0.1 answering every request with `body`;
/// returns its base URL.
pub async fn http_answering(body: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(move || async move { body });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

/// The password the web tests give probe integrations.
pub const PROBE_SECRET: &str = "pa55word-Very-Secret-77";

/// A browser signed in as `admin`, and its CSRF token.
pub async fn sign_in_admin(base: &str) -> (client::Browser, String) {
    let mut browser = client::Browser::new(base);
    browser.sign_in("admin", ADMIN_PASSWORD).await;
    let csrf = browser.csrf().await;
    (browser, csrf)
}

/// Creates a probe integration through the generic form (with
/// [`PROBE_SECRET`] as its password); returns its id.
pub async fn create_probe_integration(
    browser: &mut client::Browser,
    csrf: &str,
    name: &str,
    action: &str,
    url: &str,
) -> i64 {
    let page = browser
        .post(
            "/integrations/create?connector=probe",
            &[
                ("csrf_token", csrf),
                ("name", name),
                ("cfg.action", action),
                ("cfg.url", url),
                ("cfg.password", PROBE_SECRET),
                ("cfg.pages", "3"),
                ("http_grants", "http://127.0.0.1:*"),
            ],
        )
        .await;
    assert_eq!(page.status, reqwest::StatusCode::SEE_OTHER, "{}", page.body);
    integration_id_in(&page.location.unwrap())
}

/// The id of the integration that an address `/integrations/ID…` (where a
/// created integration redirects to) names.
pub fn integration_id_in(location: &str) -> i64 {
    location
        .trim_start_matches("/integrations/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// The text of the element with `id` in a page (`/` unescaped).
pub fn element_text(body: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\">");
    client::text_after(body, &marker, '<', &format!("#{id}")).replace("&#x2f;", "/")
}
