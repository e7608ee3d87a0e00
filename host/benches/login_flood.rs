//! Webhook intake while sign-ins flood in: does a crowd of bad sign-ins
//! slow the intake down?
//!
//! A real `cube serve` (its own process, embedded SQLite) with a webhook
//! endpoint on a disabled integration (as in `webhook_intake`). Eight
//! senders deliver signed webhooks one after another for 10 s, first alone
//! (the baseline), then while 300 clients post bad sign-ins as fast as they
//! get answers. The server trusts 127.0.0.1 as its proxy and each sign-in
//! carries an `X-Forwarded-For` of its own, so no attempt is throttled:
//! the worst case, a crowd of addresses, where every sign-in wants a
//! password check. Printed: intake p50/p99/max alone and under the flood,
//! the p99 ratio, and how the sign-ins were answered.
//!
//! Run with `cargo bench -p cube --bench login_flood`; figures go to
//! BENCHMARKS.md. Target: intake p99 under 50 ms during the flood.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cube_test_support::webhook_sender::signed_delivery;

mod support;

use support::{SECRET, TOKEN};

const KEY: &str = "00000000000000000000000000000000000000000000000000000000000000b6";
const SENDERS: usize = 8;
const ATTACKERS: usize = 300;
const SECONDS: u64 = 10;

fn main() {
    let data = tempfile::tempdir().unwrap();
    let port = cube_test_support::closed_port();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = support::serve_webhook_endpoint(
        &tokio,
        data.path(),
        port,
        KEY,
        &["--trusted-proxies", "127.0.0.1"],
    );
    let base = format!("http://127.0.0.1:{port}");
    tokio.block_on(wait_for(&base));

    // Warm-up, not measured.
    tokio.block_on(intake(&base, Duration::from_secs(2), "warm-up"));
    let alone = tokio.block_on(intake(&base, Duration::from_secs(SECONDS), "alone"));

    let stop = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(std::sync::Mutex::new(BTreeMap::<u16, u64>::new()));
    // The attackers run on a runtime (and threads) of their own.
    let attackers = {
        let (base, stop, answers) = (base.clone(), stop.clone(), answers.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(flood(&base, stop, answers));
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    let flooded = tokio.block_on(intake(&base, Duration::from_secs(SECONDS), "flood"));
    stop.store(true, Ordering::Relaxed);
    attackers.join().unwrap();
    drop(server);

    println!(
        "\n{:<22} {:>10} {:>9} {:>9} {:>9}",
        "intake", "deliveries", "p50", "p99", "max"
    );
    for (name, run) in [("alone", &alone), ("300 bad sign-ins", &flooded)] {
        println!(
            "{:<22} {:>10} {:>9.2?} {:>9.2?} {:>9.2?}",
            name,
            run.len(),
            percentile(run, 50),
            percentile(run, 99),
            run.last().unwrap()
        );
    }
    println!(
        "p99 under the flood / alone: {:.2}x",
        percentile(&flooded, 99).as_secs_f64() / percentile(&alone, 99).as_secs_f64()
    );
    let answers = answers.lock().unwrap();
    let total: u64 = answers.values().sum();
    println!(
        "sign-ins answered during the flood: {total} ({:.0}/s): {answers:?}",
        total as f64 / (SECONDS + 2) as f64
    );
}

fn percentile(sorted: &[Duration], pct: usize) -> Duration {
    sorted[(sorted.len() * pct / 100).min(sorted.len() - 1)]
}

/// [`SENDERS`] senders delivering one webhook after another for `length`;
/// the latencies, sorted.
async fn intake(base: &str, length: Duration, run: &str) -> Vec<Duration> {
    let until = Instant::now() + length;
    let url = format!("{base}/hooks/{TOKEN}");
    let body = r#"{"items": [{"id": "1", "name": "one"}]}"#;
    let mut senders = tokio::task::JoinSet::new();
    for sender in 0..SENDERS {
        let (url, run) = (url.clone(), run.to_owned());
        senders.spawn(async move {
            let client = reqwest::Client::new();
            let mut latencies = Vec::new();
            let mut n = 0;
            while Instant::now() < until {
                let delivery = format!("{run}-{sender}-{n}");
                let ts = cube_host::store::now_millis() / 1000;
                let request = signed_delivery(&client, &url, SECRET, &delivery, ts, body);
                let started = Instant::now();
                let status = request.send().await.unwrap().status();
                latencies.push(started.elapsed());
                assert_eq!(status.as_u16(), 202, "delivery {delivery} refused");
                n += 1;
            }
            latencies
        });
    }
    let mut all = Vec::new();
    while let Some(latencies) = senders.join_next().await {
        all.extend(latencies.unwrap());
    }
    all.sort();
    all
}

/// [`ATTACKERS`] clients posting bad sign-ins until `stop`, each from an
/// address of its own (as the trusted proxy says), counting the answers.
async fn flood(
    base: &str,
    stop: Arc<AtomicBool>,
    answers: Arc<std::sync::Mutex<BTreeMap<u16, u64>>>,
) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = client.get(format!("{base}/login")).send().await.unwrap();
    let cookie = form.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let csrf = cookie.split_once('=').unwrap().1.to_owned();
    let next_address = Arc::new(AtomicU64::new(0));
    let mut attackers = tokio::task::JoinSet::new();
    for _ in 0..ATTACKERS {
        let (client, base, stop, answers) = (
            client.clone(),
            base.to_owned(),
            stop.clone(),
            answers.clone(),
        );
        let (cookie, csrf, next_address) = (cookie.clone(), csrf.clone(), next_address.clone());
        attackers.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let n = next_address.fetch_add(1, Ordering::Relaxed);
                let address = format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255);
                let status = client
                    .post(format!("{base}/login"))
                    .header("cookie", &cookie)
                    .header("x-forwarded-for", address)
                    .form(&[
                        ("csrf_token", csrf.as_str()),
                        ("username", "admin"),
                        ("password", "not the password at all"),
                    ])
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                *answers.lock().unwrap().entry(status).or_insert(0) += 1;
            }
        });
    }
    while attackers.join_next().await.is_some() {}
}

async fn wait_for(base: &str) {
    let started = Instant::now();
    let client = reqwest::Client::new();
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
