//! Reading the directory change feed: how fast a consumer catches up.
//!
//! 100,000 directory users land through `Store::apply_page` (as a sync
//! writes them, recording 100,000 `user.created` changes). A consumer then
//! reads them all twice over HTTP with a `directory:read` token, 1,000 a
//! page: first as the baseline, the plain keyset list
//! `/api/v1/directory/users` (the same users, the least a consumer that
//! copies the directory can read); then the feed,
//! `/api/v1/directory/changes` from the start, which orders by commit,
//! checks the retention and adds each user's current state. The same
//! comparison runs on the store alone, without HTTP and JSON. Run with
//! `cargo bench -p cube --bench directory_feed` (or `scripts/bench
//! directory_feed`); figures go to BENCHMARKS.md.

use std::time::{Duration, Instant};

use cube_host::runtime::types::Record;
use cube_host::store::api_tokens::Scope;
use cube_host::store::directory::{DirectoryFilter, FeedCursor};
use cube_host::store::integrations::IntegrationFields;

const USERS: usize = 100_000;
const PAGE: usize = 200;
const READ_PAGE: i64 = 1000;
const ROUNDS: usize = 3;

fn page_of(start: usize) -> Vec<Record> {
    cube_test_support::store_rows::directory_users(start, PAGE, "1")
}

async fn get(client: &reqwest::Client, url: &str, token: &str) -> serde_json::Value {
    let response = client.get(url).bearer_auth(token).send().await.unwrap();
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    serde_json::from_str(&response.text().await.unwrap()).unwrap()
}

/// Reads every user through the keyset list; returns how many.
async fn read_list(client: &reqwest::Client, base: &str, token: &str) -> usize {
    let (mut read, mut after) = (0, String::new());
    loop {
        let page = get(
            client,
            &format!("{base}/api/v1/directory/users?limit={READ_PAGE}{after}"),
            token,
        )
        .await;
        read += page["users"].as_array().unwrap().len();
        match page["next"].as_str() {
            Some(next) => after = format!("&after={next}"),
            None => return read,
        }
    }
}

/// Reads the feed from the start; returns how many changes.
async fn read_feed(client: &reqwest::Client, base: &str, token: &str) -> usize {
    let (mut read, mut after) = (0, "0.0".to_owned());
    loop {
        let page = get(
            client,
            &format!("{base}/api/v1/directory/changes?after={after}&limit={READ_PAGE}"),
            token,
        )
        .await;
        read += page["changes"].as_array().unwrap().len();
        after = page["next"].as_str().unwrap().to_owned();
        if !page["more"].as_bool().unwrap() {
            return read;
        }
    }
}

fn rate(n: usize, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

fn main() {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    tokio.block_on(async {
        let (base, store, _dir) =
            cube_test_support::serve_admin_app(cube_test_support::probe_catalog().await).await;
        let id = cube_test_support::probe_integration(
            &store,
            &IntegrationFields::new("Directory", Default::default()),
        )
        .await;
        let started = Instant::now();
        for p in 0..USERS / PAGE {
            store
                .apply_page(id, None, &page_of(p * PAGE), None)
                .await
                .unwrap();
        }
        println!(
            "stored {USERS} users and their changes in {:.2} s\n",
            started.elapsed().as_secs_f64()
        );
        let token = cube_test_support::api_tokens::token_of(
            &store,
            "admin",
            "bench",
            &[Scope::DirectoryRead],
            100_000,
        )
        .await;
        let client = reqwest::Client::new();

        println!(
            "{:<44} {:>8} {:>12} {:>9}",
            "path (best of 3)", "seconds", "items/s", "vs base"
        );
        // Rounds alternate, so both see the same machine.
        let (mut list, mut feed) = (Duration::MAX, Duration::MAX);
        for _ in 0..ROUNDS {
            let t = Instant::now();
            assert_eq!(read_list(&client, &base, &token).await, USERS);
            list = list.min(t.elapsed());
            let t = Instant::now();
            assert_eq!(read_feed(&client, &base, &token).await, USERS);
            feed = feed.min(t.elapsed());
        }
        let row = |label: &str, elapsed: Duration, base: Duration| {
            println!(
                "{label:<44} {:>8.2} {:>12.0} {:>8.2}x",
                elapsed.as_secs_f64(),
                rate(USERS, elapsed),
                rate(USERS, elapsed) / rate(USERS, base)
            )
        };
        row("baseline: HTTP GET /directory/users", list, list);
        row("HTTP GET /directory/changes", feed, list);

        let (mut list, mut feed) = (Duration::MAX, Duration::MAX);
        for _ in 0..ROUNDS {
            let t = Instant::now();
            let (mut after, mut read) = (0, 0);
            loop {
                let page = store
                    .directory_users_after(&DirectoryFilter::default(), after, READ_PAGE)
                    .await
                    .unwrap();
                read += page.len();
                match page.last() {
                    Some(last) if page.len() as i64 == READ_PAGE => after = last.id,
                    _ => break,
                }
            }
            assert_eq!(read, USERS);
            list = list.min(t.elapsed());
            let t = Instant::now();
            let (mut after, mut read) = (FeedCursor::START, 0);
            loop {
                let page = store
                    .directory_changes_after(after, READ_PAGE)
                    .await
                    .unwrap();
                read += page.len();
                match page.last() {
                    Some(last) => after = last.cursor,
                    None => break,
                }
            }
            assert_eq!(read, USERS);
            feed = feed.min(t.elapsed());
        }
        row("baseline: store directory_users_after", list, list);
        row("store directory_changes_after", feed, list);
    });
}
