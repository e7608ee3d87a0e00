//! Real `cube serve` processes killed with SIGKILL in the middle of work:
//! a sync resumes on restart from its last committed page, with no record
//! lost or applied twice; acknowledged webhook deliveries are processed
//! exactly once; and two nodes on one PostgreSQL run each job once, the
//! survivor finishing what the killed node held.

use cube_test_support as common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cube_host::secrets::{MasterKey, Sealer};
use cube_host::store::Store;
use cube_host::store::jobs::NewJob;
use cube_host::store::sync_logs::{SyncLog, SyncLogFilter};

use common::store_rows::count;
use common::sync_setup::{create_sealed_integration, probe_fetching};

/// A master key shared by every node of a test.
const KEY: &str = "0000000000000000000000000000000000000000000000000000000000000001";

/// `cube serve` as a child process; killed (SIGKILL) on drop.
struct Node {
    child: Child,
    base: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    fn kill(mut self) {
        self.child.kill().unwrap(); // SIGKILL: no shutdown, no cleanup.
        self.child.wait().unwrap();
    }
}

async fn start_node(data: &Path, connectors: &Path, database: Option<&str>) -> Node {
    let port = common::closed_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_cube"));
    command
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--job-lease-secs",
            "3",
        ])
        .args([
            "--data-dir",
            data.to_str().unwrap(),
            "--connectors",
            connectors.to_str().unwrap(),
        ])
        .env("CUBE_MASTER_KEY", KEY)
        .env("CUBE_ADMIN_PASSWORD", common::ADMIN_PASSWORD)
        .env("CUBE_LOG", "warn")
        .env_remove("CUBE_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(url) = database {
        command.args(["--database-url", url]);
    }
    let child = command.spawn().unwrap();
    let node = Node {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let started = Instant::now();
    loop {
        if let Ok(response) = reqwest::get(format!("{}/readyz", node.base)).await
            && response.status() == 200
        {
            return node;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the node did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A peer that answers every page after `delay`, counting requests per path+query.
async fn slow_peer(delay: Duration) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let log = log.clone();
        async move {
            tokio::time::sleep(delay).await;
            log.lock().unwrap().push(uri.to_string());
            "page"
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, seen)
}

async fn add_integration(store: &Store, name: &str, url: &str, pages: u32) -> i64 {
    let sealer = Sealer::new(&MasterKey::parse(KEY).unwrap());
    let secrets = BTreeMap::from([("password".to_owned(), "crash-test-secret".to_owned())]);
    create_sealed_integration(
        store,
        &common::probe_catalog().await,
        "probe",
        &probe_fetching(name, url, pages),
        &sealer,
        &secrets,
    )
    .await
}

/// The last ten sync log entries of `integration`, newest first.
async fn sync_logs(store: &Store, integration: i64) -> Vec<SyncLog> {
    let filter = SyncLogFilter {
        integration_id: Some(integration),
        ..Default::default()
    };
    store.sync_logs(&filter, 0, 10).await.unwrap().0
}

async fn queue(store: &Store, integration: i64) -> i64 {
    let new = NewJob {
        requested_by: "test",
        ..common::sync_setup::manual_sync(integration, "full")
    };
    store.enqueue_sync(new).await.unwrap().0.id
}

async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts a node on `data` again and waits until it has finished `job`;
/// returns the node.
async fn restart_to_finish(data: &Path, connectors: &Path, store: &Store, job: i64) -> Node {
    let node = start_node(data, connectors, None).await;
    wait_until("the job to finish", Duration::from_secs(60), || async {
        store.job(job).await.unwrap().unwrap().status == "succeeded"
    })
    .await;
    node
}

fn connectors() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("probe.wasm"), common::probe_wasm()).unwrap();
    dir
}

/// The external ids of an integration's synced records, sorted.
async fn record_ids(store: &Store, integration: i64) -> Vec<i64> {
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT external_id FROM synced_records WHERE integration_id = $1")
            .bind(integration)
            .fetch_all(store.pool())
            .await
            .unwrap();
    let mut ids: Vec<i64> = ids.iter().map(|i| i.parse().unwrap()).collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_mid_way_resumes_after_restart_without_losing_or_repeating_records() {
    let data = tempfile::tempdir().unwrap();
    let connectors = connectors();
    let store = Store::open_in(data.path()).await.unwrap();
    let (peer, seen) = slow_peer(Duration::from_millis(100)).await;
    let id = add_integration(&store, "Crashy", &peer, 20).await;
    let job = queue(&store, id).await;

    let node = start_node(data.path(), connectors.path(), None).await;
    wait_until("a few pages", Duration::from_secs(30), || async {
        let current = store.job(job).await.unwrap().unwrap();
        assert!(
            current.status == "queued" || current.status == "running",
            "{current:?}"
        );
        current.pages_done >= 4
    })
    .await;
    node.kill();
    let interrupted = store.job(job).await.unwrap().unwrap();
    assert_eq!(interrupted.status, "running", "killed mid-way");
    let committed = interrupted.pages_done;
    assert!(committed < 20);
    let before_restart = seen.lock().unwrap().len();

    let _node = restart_to_finish(data.path(), connectors.path(), &store, job).await;
    assert_eq!(
        record_ids(&store, id).await,
        (0..40).collect::<Vec<_>>(),
        "every record, once"
    );
    let logs = sync_logs(&store, id).await;
    assert_eq!(logs.len(), 2, "{logs:?}");
    assert!(
        logs[1].message.starts_with("Interrupted"),
        "{}",
        logs[1].message
    );
    assert!(
        logs[0]
            .message
            .contains(&format!("resumed after {committed} pages")),
        "{}",
        logs[0].message
    );
    // Committed pages are not read again: the restart asked for the rest only.
    let after: Vec<String> = seen.lock().unwrap()[before_restart..].to_vec();
    let first_page: u32 = after[0].rsplit('=').next().unwrap().parse().unwrap();
    assert_eq!(first_page as i64, committed, "{after:?}");
}

/// The probe's item `n`, as its sync returns it.
fn item(n: u32) -> cube_host::runtime::types::Record {
    common::record(
        "item",
        &n.to_string(),
        serde_json::json!({"name": format!("item {n}")}),
        "1",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_killed_after_its_last_page_is_finished_without_reading_past_the_end() {
    let data = tempfile::tempdir().unwrap();
    let connectors = connectors();
    let store = Store::open_in(data.path()).await.unwrap();
    let (peer, seen) = slow_peer(Duration::ZERO).await;
    let id = add_integration(&store, "Ended", &peer, 3).await;
    let job = queue(&store, id).await;
    // A node that died between committing the last of the three pages and
    // marking the job done: its lease has run out, nothing else happened.
    store
        .claim_job_id(job, "dead-node", 1)
        .await
        .unwrap()
        .unwrap();
    for page in 0..3u32 {
        let records = [item(page * 2), item(page * 2 + 1)];
        let cursor = (page + 1).to_string();
        if page < 2 {
            store
                .apply_page(id, Some(job), &records, Some(&cursor))
                .await
                .unwrap();
        } else {
            store
                .apply_last_page(id, job, &records, Some(&cursor))
                .await
                .unwrap();
        }
    }
    // A record the full sync did not see goes when the job is finished.
    store
        .apply_page(id, None, &[item(99)], Some("3"))
        .await
        .unwrap();

    let _node = restart_to_finish(data.path(), connectors.path(), &store, job).await;
    assert_eq!(
        record_ids(&store, id).await,
        (0..6).collect::<Vec<_>>(),
        "the pages committed, without a page past the end and without the record not seen"
    );
    assert_eq!(seen.lock().unwrap().len(), 0, "no page was asked for again");
    let logs = sync_logs(&store, id).await;
    assert!(
        logs[0].message.contains("resumed after 3 pages") && logs[0].message.contains("1 deleted"),
        "{}",
        logs[0].message
    );
}

const WEBHOOK_SECRET: &str = "a-webhook-secret-for-crash-tests";

/// Sends delivery `n` (one item with id `n`), signed; the status, if any came.
async fn send(url: String, n: usize) -> Result<u16, reqwest::Error> {
    let body = format!(r#"{{"items": [{{"id": "{n}"}}]}}"#);
    let ts = cube_host::store::now_millis() / 1000;
    let delivery = format!("delivery-{n}");
    let signature = cube_host::webhooks::signature::sign_cube(
        WEBHOOK_SECRET.as_bytes(),
        ts,
        &delivery,
        body.as_bytes(),
    );
    reqwest::Client::new()
        .post(url)
        .header("x-cube-timestamp", ts.to_string())
        .header("x-cube-signature", signature)
        .header("x-cube-delivery", delivery)
        .body(body)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map(|r| r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_webhooks_survive_a_kill_and_are_processed_exactly_once() {
    let data = tempfile::tempdir().unwrap();
    let connectors = connectors();
    let store = Store::open_in(data.path()).await.unwrap();
    let id = add_integration(&store, "Hooked", "http://127.0.0.1:1/", 1).await;
    let sealer = Sealer::new(&MasterKey::parse(KEY).unwrap());
    store
        .create_webhook(id, "crash-token", "cube-hmac-sha256", "", false, |w| {
            cube_host::webhooks::seal_secret(&sealer, w, WEBHOOK_SECRET)
        })
        .await
        .unwrap();

    let node = start_node(data.path(), connectors.path(), None).await;
    let url = format!("{}/hooks/crash-token", node.base);
    let acked = Arc::new(AtomicUsize::new(0));
    // Deliveries keep coming while the node is killed.
    let sender = {
        let (url, acked) = (url.clone(), acked.clone());
        tokio::spawn(async move {
            let mut answers = Vec::new();
            for n in 0..60 {
                let answer = send(url.clone(), n).await;
                if matches!(answer, Ok(200 | 202)) {
                    acked.fetch_add(1, Ordering::SeqCst);
                }
                answers.push((n, answer.ok()));
            }
            answers
        })
    };
    wait_until("some deliveries", Duration::from_secs(30), || async {
        acked.load(Ordering::SeqCst) >= 15
    })
    .await;
    node.kill();
    let answers = sender.await.unwrap();

    let node = start_node(data.path(), connectors.path(), None).await;
    let url = format!("{}/hooks/crash-token", node.base);
    // The sender retries what was not acknowledged; what was is refused as a duplicate.
    for (n, answer) in &answers {
        let again = send(url.clone(), *n).await.unwrap();
        match answer {
            Some(200 | 202) => {
                assert_eq!(again, 409, "delivery {n} was acknowledged, so it is stored")
            }
            _ => assert!(matches!(again, 200 | 202 | 409), "delivery {n}: {again}"),
        }
    }
    wait_until(
        "every delivery processed",
        Duration::from_secs(60),
        || async {
            count(
                &store,
                "SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_deliveries WHERE status <> 'processed'",
            )
            .await
                == 0
        },
    )
    .await;
    let stored = count(
        &store,
        "SELECT CAST(COUNT(*) AS BIGINT) FROM webhook_deliveries",
    )
    .await;
    assert_eq!(stored, 60, "each delivery stored once");
    assert_eq!(record_ids(&store, id).await, (0..60).collect::<Vec<_>>());
    drop(node);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_postgres_run_each_job_once_and_finish_a_killed_nodes_job() {
    let url = common::postgres_database().await;
    let store = Store::connect(&url).await.unwrap();
    let (peer, seen) = slow_peer(Duration::from_millis(60)).await;
    let mut integrations = Vec::new();
    for n in 0..6 {
        let id = add_integration(&store, &format!("Shared {n}"), &format!("{peer}i{n}"), 8).await;
        integrations.push((id, queue(&store, id).await));
    }
    let connectors = connectors();
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start_node(a_dir.path(), connectors.path(), Some(&url)).await;
    let _b = start_node(b_dir.path(), connectors.path(), Some(&url)).await;

    // Kill A while it holds a job with pages committed.
    wait_until("node A to hold a job", Duration::from_secs(30), || async {
        let held: Option<i64> = sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM jobs WHERE status = 'running' AND pages_done > 0 \
             AND lease_owner NOT LIKE 'cli-%' AND lease_owner LIKE $1",
        )
        .bind(format!("{}-%", a.child.id()))
        .fetch_one(store.pool())
        .await
        .ok();
        held.unwrap_or(0) > 0
    })
    .await;
    a.kill();

    wait_until("every job to finish", Duration::from_secs(120), || async {
        count(
            &store,
            "SELECT CAST(COUNT(*) AS BIGINT) FROM jobs WHERE status <> 'succeeded'",
        )
        .await
            == 0
    })
    .await;
    let mut taken_over = 0;
    for (id, job) in &integrations {
        assert_eq!(
            record_ids(&store, *id).await,
            (0..16).collect::<Vec<_>>(),
            "integration {id}"
        );
        let job = store.job(*job).await.unwrap().unwrap();
        if job.attempts > 1 {
            taken_over += 1;
        }
        // Each page committed once: the created counts add up to the records.
        let logs = sync_logs(&store, *id).await;
        let created: i64 = logs.iter().map(|l| l.counts.created).sum();
        assert_eq!(created, 16, "integration {id}: {logs:?}");
    }
    assert!(
        taken_over >= 1,
        "the killed node's job was finished by the other"
    );
    // Each integration's pages were requested by one node at a time: at most
    // the page in flight at the kill was asked twice.
    let requests = seen.lock().unwrap().len();
    assert!(
        requests <= 6 * 8 + 2,
        "{requests} page requests for 48 pages"
    );
}
