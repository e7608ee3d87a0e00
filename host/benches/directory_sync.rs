//! A full directory sync of 100,000 users from slapd into the store,
//! against a native read of the same entries, and an incremental sync of
//! 100 changes among them.
//!
//! The directory is the tests' slapd (`scripts/test-slapd.sh`), with
//! 100,000 generated users under `ou=Bench` (`scripts/test-slapd.sh bulk
//! 100000 Bench`, done here; the first time takes a minute or two). Both
//! sides speak plain LDAP to 127.0.0.1 and ask for the same attributes in
//! pages of 1,000.
//!
//! - baseline: ldap3's paged search in this process, reading every entry
//!   and nothing more (no store, no sandbox): the most any sync could do.
//! - cube: a full sync job of the Active Directory connector (release
//!   build) in the sandbox through the sync engine into a fresh SQLite store,
//!   every page committed with its cursor.
//!
//! - read-only: the connector alone, every page read through the sandbox
//!   and nothing stored.
//! - store-only: the pages read-only returned, applied to a fresh store
//!   one transaction a page, with nothing read: the store's share.
//!
//! Rounds alternate the paths so all see the same machine. Then 100 users
//! get a new `mail` and an incremental sync is timed. Run with
//! `scripts/bench directory_sync`; figures go to BENCHMARKS.md.
//!
//! For profiling, `BENCH_PATHS=cube` (a comma-separated list of the paths
//! above) runs only some paths, and `CUBE_PERF_MAP=1` names the
//! connector's compiled functions for `perf report`.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cube_host::integrations::seal_secrets;
use cube_host::runtime::{LdapGrant, Runtime};
use cube_host::secrets::{MasterKey, Sealer};
use cube_host::store::Store;
use cube_host::store::integrations::IntegrationFields;
use cube_host::store::jobs::NewJob;
use cube_host::sync::{RetryPolicy, SyncDeps, run_job};
use cube_host::web::Catalog;
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{LdapConnAsync, Scope, SearchEntry};

const USERS: usize = 100_000;
const PAGE: i32 = 1000;
const OU: &str = "Bench";
/// Rounds unless `BENCH_ROUNDS` says how many.
const ROUNDS: usize = 3;
/// What the connector's Active Directory preset asks for, plus the stamp.
const ATTRIBUTES: [&str; 12] = [
    "cn",
    "displayName",
    "entryCSN",
    "givenName",
    "mail",
    "objectGUID",
    "sAMAccountName",
    "sn",
    "userAccountControl",
    "userPrincipalName",
    "uid",
    "description",
];

struct Directory {
    url: String,
    port: u16,
    base: String,
    bind_dn: String,
    password: String,
    admin_dn: String,
    admin_password: String,
}

async fn native_read(dir: &Directory) -> (usize, Duration) {
    let started = Instant::now();
    let (conn, mut ldap) = LdapConnAsync::new(&dir.url).await.unwrap();
    ldap3::drive!(conn);
    ldap.simple_bind(&dir.bind_dn, &dir.password)
        .await
        .unwrap()
        .success()
        .unwrap();
    let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
        Box::new(EntriesOnly::new()),
        Box::new(PagedResults::new(PAGE)),
    ];
    let mut search = ldap
        .streaming_search_with(
            adapters,
            &format!("ou={OU},{}", dir.base),
            Scope::Subtree,
            "(objectClass=user)",
            ATTRIBUTES.to_vec(),
        )
        .await
        .unwrap();
    let mut entries = 0;
    while let Some(entry) = search.next().await.unwrap() {
        let entry = SearchEntry::construct(entry);
        std::hint::black_box(&entry);
        entries += 1;
    }
    search.finish().await.success().unwrap();
    ldap.unbind().await.unwrap();
    (entries, started.elapsed())
}

fn connector_wasm() -> Vec<u8> {
    let root = cube_test_support::repo_root();
    let built = cube_host::plugin::build::build(
        &[root.join("plugins/active-directory")],
        Some(&root.join("target/bench-components")),
    )
    .expect("building plugins/active-directory");
    std::fs::read(&built[0].path).unwrap()
}

struct Cube {
    deps: SyncDeps,
    integration: i64,
    _dir: tempfile::TempDir,
}

async fn cube(dir: &Directory, wasm: &[u8], runtime: &Runtime) -> Cube {
    let tmp = tempfile::tempdir().unwrap();
    let connectors = tmp.path().join("connectors");
    std::fs::create_dir_all(&connectors).unwrap();
    std::fs::write(connectors.join("active-directory.wasm"), wasm).unwrap();
    let catalog = Catalog::new();
    catalog
        .clone()
        .load_dirs(runtime.clone(), vec![connectors])
        .await;
    let store = Store::open_in(tmp.path()).await.unwrap();
    let sealer = Arc::new(Sealer::new(&MasterKey::generate()));
    let (connector, info) = catalog.get("active-directory").unwrap();
    store
        .upsert_provider(&info, connector.digest())
        .await
        .unwrap();
    let config = serde_json::json!({
        "server": "127.0.0.1", "port": dir.port, "tls": "none",
        "bind_dn": dir.bind_dn, "base_dn": dir.base,
        "user_base": format!("ou={OU},{}", dir.base), "user_filter": "(objectClass=user)",
        "group_base": format!("ou=Groups,{}", dir.base), "page_size": PAGE,
    });
    let fields = IntegrationFields {
        ldap_grants: vec![LdapGrant::parse(&format!("ldap://127.0.0.1:{}", dir.port)).unwrap()],
        ..IntegrationFields::new("Bench directory", config.as_object().unwrap().clone())
    };
    let secrets = BTreeMap::from([("password".to_owned(), dir.password.clone())]);
    let integration = store
        .create_integration("active-directory", &fields, "bench", |id| {
            seal_secrets(&sealer, id, &secrets)
        })
        .await
        .unwrap()
        .id;
    Cube {
        deps: SyncDeps {
            store,
            catalog,
            runtime: runtime.clone(),
            sealer,
            retry: RetryPolicy::default(),
            outbound: Default::default(),
            events: Default::default(),
            lease_ms: cube_host::sync::LEASE_MS,
        },
        integration,
        _dir: tmp,
    }
}

/// Runs one sync job to its end; returns (records read, time, status).
async fn sync(cube: &Cube, mode: &str) -> (i64, Duration, String) {
    let store = &cube.deps.store;
    let started = Instant::now();
    let (job, _) = store
        .enqueue_sync(NewJob {
            integration_id: cube.integration,
            trigger: "bench",
            mode,
            dry_run: false,
            requested_by: "bench",
        })
        .await
        .unwrap();
    let claimed = store.claim_job("bench", 600_000).await.unwrap().unwrap();
    run_job(&cube.deps, claimed, "bench").await;
    let elapsed = started.elapsed();
    let job = store.job(job.id).await.unwrap().unwrap();
    let filter = cube_host::store::sync_logs::SyncLogFilter {
        integration_id: Some(cube.integration),
        ..Default::default()
    };
    let (logs, _) = store.sync_logs(&filter, 0, 1).await.unwrap();
    (logs[0].counts.read, elapsed, job.status)
}

/// The pages of a full sync as the connector returned them, with their
/// cursors.
type Pages = Vec<(Vec<cube_host::runtime::types::Record>, Option<String>)>;

/// The connector alone: every page of a full sync read through the
/// sandbox, nothing stored. Returns the pages and the time.
async fn connector_only(cube: &Cube) -> (Pages, Duration) {
    let integration = cube
        .deps
        .store
        .integration(cube.integration)
        .await
        .unwrap()
        .unwrap();
    let config = cube_host::integrations::CallConfig::of(&cube.deps.sealer, &integration).unwrap();
    let (connector, _) = cube.deps.catalog.get("active-directory").unwrap();
    let ctx = cube
        .deps
        .runtime
        .context("bench")
        .with_ldap_grants(integration.ldap_grants.iter().cloned())
        .with_secrets(config.secrets.clone());
    let started = Instant::now();
    let mut cursor = None;
    let mut pages = Pages::new();
    loop {
        let request = cube_host::runtime::types::SyncRequest {
            config: config.json.to_string(),
            mode: cube_host::runtime::types::SyncMode::Full,
            cursor: cursor.take(),
            dry_run: true,
            page_size: PAGE as u32,
        };
        let page = connector.sync(&ctx, &request).await.result.unwrap();
        let more = page.has_more;
        cursor = page.cursor.clone();
        pages.push((page.records, page.cursor));
        if !more {
            break;
        }
    }
    (pages, started.elapsed())
}

/// The store alone: `pages` applied to `cube`'s (fresh) store as a sync
/// job applies them, one transaction a page. Returns the time.
async fn store_only(cube: &Cube, pages: &Pages) -> Duration {
    let store = &cube.deps.store;
    let started = Instant::now();
    for (records, cursor) in pages {
        store
            .apply_page(cube.integration, None, records, cursor.as_deref())
            .await
            .unwrap();
    }
    started.elapsed()
}

/// CPU seconds (user + system) a process has used so far, from
/// `/proc/<pid>/stat` (Linux; clock ticks of 1/100 s, the kernel's USER_HZ).
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th of the whole line.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU used by this process and by slapd while `work` runs: on two cores
/// the sync is CPU-bound, so these say what a change really saved.
struct Cpu {
    slapd: String,
    ours: f64,
    server: f64,
}

impl Cpu {
    fn start(slapd: &str) -> Self {
        Cpu {
            slapd: slapd.to_owned(),
            ours: cpu_seconds("self"),
            server: cpu_seconds(slapd),
        }
    }

    fn report(&self) -> String {
        format!(
            "cpu: ours {:.2} s, slapd {:.2} s",
            cpu_seconds("self") - self.ours,
            cpu_seconds(&self.slapd) - self.server
        )
    }
}

fn rate(n: f64, elapsed: Duration) -> f64 {
    n / elapsed.as_secs_f64()
}

/// Which paths to run: all, or those `BENCH_PATHS` lists.
fn runs(path: &str) -> bool {
    std::env::var("BENCH_PATHS").map_or(true, |paths| paths.split(',').any(|p| p.trim() == path))
}

fn main() {
    let env =
        cube_test_support::test_service::run("test-slapd.sh", &["bulk", &USERS.to_string(), OU]);
    let url = env["CUBE_TEST_LDAP_URL"].clone();
    let dir = Directory {
        port: url.rsplit(':').next().unwrap().parse().unwrap(),
        url,
        base: env["CUBE_TEST_LDAP_BASE"].clone(),
        bind_dn: env["CUBE_TEST_LDAP_BIND_DN"].clone(),
        password: env["CUBE_TEST_LDAP_BIND_PASSWORD"].clone(),
        admin_dn: env["CUBE_TEST_LDAP_ADMIN_DN"].clone(),
        admin_password: env["CUBE_TEST_LDAP_ADMIN_PASSWORD"].clone(),
    };
    let wasm = connector_wasm();
    let root = cube_test_support::repo_root();
    let slapd_pid = std::fs::read_to_string(root.join("target/slapd/slapd.pid"))
        .map(|p| p.trim().to_owned())
        .unwrap_or_default();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    tokio.block_on(async {
        let runtime = Runtime::builder()
            .max_instances(16)
            .perf_map(std::env::var_os("CUBE_PERF_MAP").is_some())
            .build()
            .unwrap();
        println!("{USERS} users from slapd on 127.0.0.1, pages of {PAGE}, plain LDAP, SQLite store\n");
        println!("{:<8} {:<10} {:>10} {:>12} {:>10}", "round", "path", "seconds", "entries/s", "vs base");
        let mut last = None;
        let rounds = std::env::var("BENCH_ROUNDS").ok().and_then(|n| n.parse().ok()).unwrap_or(ROUNDS);
        for round in 1..=rounds {
            // Without the baseline, ratios are against one second.
            let mut native = Duration::from_secs(1);
            if runs("baseline") {
                let cpu = Cpu::start(&slapd_pid);
                let (entries, took) = native_read(&dir).await;
                assert_eq!(entries, USERS);
                native = took;
                println!("{round:<8} {:<10} {:>10.2} {:>12.0} {:>10}   ({})", "baseline", native.as_secs_f64(), rate(entries as f64, native), "1.00x", cpu.report());
            }
            let versus = |elapsed: Duration| rate(USERS as f64, elapsed) / rate(USERS as f64, native);
            if runs("cube") {
                let cube = cube(&dir, &wasm, &runtime).await;
                let cpu = Cpu::start(&slapd_pid);
                let (read, elapsed, status) = sync(&cube, "full").await;
                let cube_cpu = cpu.report();
                assert_eq!(status, "succeeded");
                let users: i64 = sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM directory_users")
                    .fetch_one(cube.deps.store.pool())
                    .await
                    .unwrap();
                assert_eq!(users as usize, USERS, "every user stored");
                println!(
                    "{round:<8} {:<10} {:>10.2} {:>12.0} {:>9.2}x   ({read} entries read for {users} users; {cube_cpu})",
                    "cube",
                    elapsed.as_secs_f64(),
                    rate(users as f64, elapsed),
                    versus(elapsed),
                );
                last = Some(cube);
            }
            if runs("read-only") || runs("store-only") {
                let reader = cube(&dir, &wasm, &runtime).await;
                let cpu = Cpu::start(&slapd_pid);
                let (pages, alone) = connector_only(&reader).await;
                let users = pages.iter().flat_map(|(r, _)| r).filter(|r| r.kind == "user").count();
                assert_eq!(users, USERS, "every user read");
                if runs("read-only") {
                    println!(
                        "{round:<8} {:<10} {:>10.2} {:>12.0} {:>9.2}x   (connector in the sandbox, nothing stored; {})",
                        "read-only",
                        alone.as_secs_f64(),
                        rate(USERS as f64, alone),
                        versus(alone),
                        cpu.report(),
                    );
                }
                if runs("store-only") {
                    let fresh = cube(&dir, &wasm, &runtime).await;
                    let cpu = Cpu::start(&slapd_pid);
                    let stored = store_only(&fresh, &pages).await;
                    println!(
                        "{round:<8} {:<10} {:>10.2} {:>12.0} {:>9.2}x   (those pages stored, nothing read; {})",
                        "store-only",
                        stored.as_secs_f64(),
                        rate(USERS as f64, stored),
                        versus(stored),
                        cpu.report(),
                    );
                }
            }
        }

        let Some(cube) = last else {
            return;
        };
        // Nothing changed since the last full sync: an incremental sync
        // reads nothing, and should take next to no time.
        for _ in 0..3 {
            let (read, elapsed, status) = sync(&cube, "incremental").await;
            assert_eq!(status, "succeeded");
            println!("incremental sync, no changes: {read} entries read, {:.3} s", elapsed.as_secs_f64());
        }
        // 100 changes among the 100,000, then an incremental sync.
        let (conn, mut ldap) = LdapConnAsync::new(&dir.url).await.unwrap();
        ldap3::drive!(conn);
        ldap.simple_bind(&dir.admin_dn, &dir.admin_password).await.unwrap().success().unwrap();
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        for i in (1..=USERS).step_by(USERS / 100) {
            let prefix = OU.to_lowercase();
            let dn = format!("uid={prefix}{i:06},ou={OU},{}", dir.base);
            let mail = format!("{prefix}{i:06}+{stamp}@example.com");
            ldap.modify(&dn, vec![ldap3::Mod::Replace("mail", HashSet::from([mail.as_str()]))])
                .await
                .unwrap()
                .success()
                .unwrap();
        }
        let (read, elapsed, status) = sync(&cube, "incremental").await;
        assert_eq!(status, "succeeded");
        println!("\nincremental sync after 100 changes: {read} entries read, {:.3} s", elapsed.as_secs_f64());
    });
}
