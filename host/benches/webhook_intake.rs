//! Webhook intake: verified, durably stored deliveries per second, and their
//! latency, under wrk running as a second process.
//!
//! Two servers, each its own process, are loaded in turn (twice each,
//! alternating, so a noisy minute hits both):
//!
//! - **cube**: a real `cube serve` on embedded SQLite (WAL,
//!   `synchronous = FULL`), with an endpoint (`cube-hmac-sha256`, answer
//!   "202 once stored") on a disabled integration, so the run measures
//!   intake alone: find the endpoint, open its sealed secret, verify the
//!   signature and the timestamp, store the delivery (group commit), answer.
//! - **baseline**: the least a native server can do for the same promise:
//!   an axum handler that checks the same HMAC and timestamp and inserts the
//!   delivery into SQLite with the same durability and the same group
//!   commit, with nothing else (no endpoint lookup, no sealed secret, no
//!   header copy). It is this binary again, started with
//!   `CUBE_BENCH_ROLE=baseline`.
//!
//! wrk sends 1 KiB JSON bodies, each with its own delivery id and signature
//! (pre-computed: the signature covers the id), from 64 connections, for 2
//! seconds of warm-up (not measured) and then 10 measured seconds. After
//! each run the stored rows are counted: every acknowledged delivery must be
//! there (zero lost).
//!
//! Run with `scripts/bench webhook_intake` (installs wrk when missing);
//! figures go to BENCHMARKS.md.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cube_host::webhooks::signature::sign_cube;

mod support;

use support::{Process, SECRET, TOKEN};

const KEY: &str = "00000000000000000000000000000000000000000000000000000000000000b5";
const SECONDS: u32 = 10;
const WARM_UP_SECONDS: u32 = 2;
const CONNECTIONS: u32 = 64;
/// More signed requests than a run can send.
const REQUESTS: usize = 700_000;

fn main() {
    if std::env::var("CUBE_BENCH_ROLE").as_deref() == Ok("baseline") {
        baseline::serve();
        return;
    }
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("wrk is not installed: run scripts/bench webhook_intake, which installs it");
        std::process::exit(2);
    }
    let body = body();
    let mut rows = Vec::new();
    for round in 1..=2 {
        for server in [Server::Baseline, Server::Cube] {
            let run = run(server, &body);
            println!(
                "round {round} {:<9} {:>9.0} req/s  p50 {:>7}  p99 {:>7}  acknowledged {:>7}  stored {:>7}  refused {}",
                server.name(),
                run.rate,
                run.p50,
                run.p99,
                run.acknowledged,
                run.stored,
                run.refused
            );
            assert!(
                run.stored >= run.acknowledged,
                "{} lost acknowledged deliveries",
                server.name()
            );
            assert_eq!(run.refused, 0, "{} refused deliveries", server.name());
            rows.push((round, server, run));
        }
    }
    println!(
        "\n{:<6} {:<9} {:>10} {:>9} {:>9} {:>8} {:>8}",
        "round", "server", "req/s", "p50", "p99", "vs base", "lost"
    );
    for pair in rows.chunks(2) {
        let base = pair[0].2.rate;
        for (round, server, run) in pair {
            println!(
                "{:<6} {:<9} {:>10.0} {:>9} {:>9} {:>7.2}x {:>8}",
                round,
                server.name(),
                run.rate,
                run.p50,
                run.p99,
                run.rate / base,
                run.acknowledged.saturating_sub(run.stored)
            );
        }
    }
}

#[derive(Clone, Copy)]
enum Server {
    Baseline,
    Cube,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Server::Baseline => "baseline",
            Server::Cube => "cube",
        }
    }
}

struct Run {
    rate: f64,
    p50: String,
    p99: String,
    acknowledged: u64,
    refused: u64,
    stored: u64,
}

/// A 1 KiB JSON body, the same for every delivery.
fn body() -> String {
    let mut items = Vec::new();
    let mut n = 0;
    while serde_json::to_string(&items).unwrap().len() < 1000 {
        items.push(serde_json::json!({"id": n.to_string(), "name": format!("item number {n}")}));
        n += 1;
    }
    serde_json::json!({ "items": items }).to_string()
}

fn run(server: Server, body: &str) -> Run {
    let data = tempfile::tempdir().unwrap();
    let port = cube_test_support::closed_port();
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (process, path) = match server {
        Server::Cube => (
            support::serve_webhook_endpoint(&tokio, data.path(), port, KEY, &[]),
            format!("/hooks/{TOKEN}"),
        ),
        Server::Baseline => {
            let child = Command::new(std::env::current_exe().unwrap())
                .env("CUBE_BENCH_ROLE", "baseline")
                .env("CUBE_BENCH_PORT", port.to_string())
                .env("CUBE_BENCH_DATA", data.path())
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            (Process(child), "/hooks/baseline".to_owned())
        }
    };
    wait_for(port);

    let script = data.path().join("intake.lua");
    std::fs::write(&script, LUA).unwrap();
    let body_file = data.path().join("body.json");
    std::fs::write(&body_file, body).unwrap();
    let wrk = |requests: &Path, seconds: u32| {
        let output = Command::new("wrk")
            .args(["-t1", &format!("-c{CONNECTIONS}"), &format!("-d{seconds}s")])
            .args(["--latency", "--timeout", "10s", "-s"])
            .arg(&script)
            .arg(format!("http://127.0.0.1:{port}{path}"))
            .arg("--")
            .arg(requests)
            .arg(&body_file)
            .output()
            .expect("wrk runs");
        let report = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "wrk failed: {report}");
        report
    };
    // Warm-up, not measured: connection pools filled, caches warm.
    let warm_up = signed_requests(data.path(), "warm-up", body);
    wrk(&warm_up, WARM_UP_SECONDS);
    let before = tokio.block_on(count_stored(server, data.path()));
    let requests = signed_requests(data.path(), "delivery", body);
    let report = wrk(&requests, SECONDS);
    drop(process);

    let completed = number_before(&report, " requests in ");
    let refused = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .map_or(0, |n| n.trim().parse().unwrap());
    let stored = tokio.block_on(count_stored(server, data.path())) - before;
    Run {
        rate: report
            .lines()
            .find_map(|l| l.strip_prefix("Requests/sec:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap(),
        p50: percentile(&report, "50%"),
        p99: percentile(&report, "99%"),
        acknowledged: completed - refused,
        refused,
        stored,
    }
}

/// Writes `id signature` lines for [`REQUESTS`] deliveries, signed now.
fn signed_requests(dir: &Path, prefix: &str, body: &str) -> std::path::PathBuf {
    let now = cube_host::store::now_millis() / 1000;
    let path = dir.join(format!("{prefix}.txt"));
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(out, "{now}").unwrap();
    for n in 0..REQUESTS {
        let id = format!("{prefix}-{n}");
        let signature = sign_cube(SECRET.as_bytes(), now, &id, body.as_bytes());
        writeln!(out, "{id} {signature}").unwrap();
    }
    out.flush().unwrap();
    path
}

/// wrk's side: one pre-signed delivery per request, in order.
const LUA: &str = r#"
local ids, signatures, timestamp, body = {}, {}, nil, nil
local next_request = 0
function init(args)
  local lines = io.lines(args[1])
  timestamp = lines()
  for line in lines do
    local id, signature = line:match("^(%S+) (%S+)$")
    ids[#ids + 1] = id
    signatures[#signatures + 1] = signature
  end
  local file = io.open(args[2], "rb")
  body = file:read("*a")
  file:close()
end
function request()
  next_request = next_request + 1
  if next_request > #ids then
    error("the benchmark ran out of signed requests")
  end
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["X-Cube-Timestamp"] = timestamp,
    ["X-Cube-Delivery"] = ids[next_request],
    ["X-Cube-Signature"] = signatures[next_request],
  }, body)
end
"#;

fn number_before(report: &str, marker: &str) -> u64 {
    let line = report.lines().find(|l| l.contains(marker)).unwrap();
    line.split_whitespace().next().unwrap().parse().unwrap()
}

fn percentile(report: &str, label: &str) -> String {
    let after = report.split("Latency Distribution").nth(1).unwrap();
    after
        .lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .unwrap()
        .trim()
        .to_owned()
}

fn wait_for(port: u16) {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // cube serve listens before its store is warm; give both a moment.
    std::thread::sleep(Duration::from_millis(500));
}

async fn count_stored(server: Server, data: &Path) -> u64 {
    let (file, table) = match server {
        Server::Cube => ("cube.db", "webhook_deliveries"),
        Server::Baseline => ("baseline.db", "deliveries"),
    };
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .connect(&format!("sqlite://{}", data.join(file).display()))
        .await
        .unwrap();
    let count: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(&pool)
        .await
        .unwrap();
    count as u64
}

/// The native baseline server.
mod baseline {
    use axum::Router;
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqliteSynchronous};
    use tokio::sync::{mpsc, oneshot};

    use super::SECRET;

    type Pending = (String, String, Vec<u8>, oneshot::Sender<bool>);

    pub fn serve() {
        let port: u16 = std::env::var("CUBE_BENCH_PORT").unwrap().parse().unwrap();
        let data = std::env::var("CUBE_BENCH_DATA").unwrap();
        tokio::runtime::Runtime::new().unwrap().block_on(async move {
            let options = SqliteConnectOptions::new()
                .filename(format!("{data}/baseline.db"))
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full);
            let pool = SqlitePool::connect_with(options).await.unwrap();
            sqlx::query(
                "CREATE TABLE deliveries (id INTEGER PRIMARY KEY, delivery_id TEXT NOT NULL UNIQUE, \
                 received_at INTEGER NOT NULL, headers TEXT NOT NULL, body BLOB NOT NULL)",
            )
            .execute(&pool)
            .await
            .unwrap();
            let (queue, pending) = mpsc::channel::<Pending>(4096);
            tokio::spawn(write(pool, pending));
            let app = Router::new().route(
                "/hooks/baseline",
                post(move |headers: HeaderMap, body: Bytes| receive(queue.clone(), headers, body)),
            );
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    }

    async fn receive(queue: mpsc::Sender<Pending>, headers: HeaderMap, body: Bytes) -> StatusCode {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        };
        let (ts, delivery) = (header("x-cube-timestamp"), header("x-cube-delivery"));
        let Some(given) = header("x-cube-signature")
            .strip_prefix("sha256=")
            .and_then(|h| hex::decode(h).ok())
        else {
            return StatusCode::BAD_REQUEST;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        for part in [ts.as_bytes(), b".", delivery.as_bytes(), b".", &body] {
            mac.update(part);
        }
        if mac.verify_slice(&given).is_err() {
            return StatusCode::UNAUTHORIZED;
        }
        let now = cube_host::store::now_millis() / 1000;
        if ts.parse::<i64>().map_or(true, |ts| (now - ts).abs() > 300) {
            return StatusCode::UNAUTHORIZED;
        }
        let (done, stored) = oneshot::channel();
        let headers = format!("{ts} {delivery}");
        if queue
            .send((delivery.to_owned(), headers, body.to_vec(), done))
            .await
            .is_err()
        {
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        match stored.await {
            Ok(true) => StatusCode::ACCEPTED,
            Ok(false) => StatusCode::CONFLICT,
            Err(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    async fn write(pool: SqlitePool, mut pending: mpsc::Receiver<Pending>) {
        let mut batch = Vec::with_capacity(256);
        while pending.recv_many(&mut batch, 256).await > 0 {
            let mut tx = pool.begin().await.unwrap();
            let mut results = Vec::with_capacity(batch.len());
            for (delivery, headers, body, _) in &batch {
                let inserted = sqlx::query(
                    "INSERT INTO deliveries (delivery_id, received_at, headers, body) VALUES (?, ?, ?, ?) \
                     ON CONFLICT (delivery_id) DO NOTHING",
                )
                .bind(delivery)
                .bind(cube_host::store::now_millis())
                .bind(headers)
                .bind(body)
                .execute(&mut *tx)
                .await
                .unwrap();
                results.push(inserted.rows_affected() == 1);
            }
            tx.commit().await.unwrap();
            for ((_, _, _, done), stored) in batch.drain(..).zip(results) {
                let _ = done.send(stored);
            }
        }
    }
}
