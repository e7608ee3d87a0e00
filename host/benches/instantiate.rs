//! Instantiation benchmark: the cost of the sandbox itself.
//!
//! Measures, for the trivial connector (tests/components/trivial):
//! - cold: a fresh instance plus its first call (what every host call costs),
//! - warm: a further call on an existing instance,
//!
//! with the pooling allocator on and off, in the same run. Run with
//! `cargo bench -p cube --bench instantiate`; figures go to BENCHMARKS.md.

use std::path::Path;
use std::time::{Duration, Instant};

use cube_host::runtime::Runtime;

const WARMUP: usize = 500;
const SAMPLES: usize = 20_000;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let built = cube_host::plugin::build::build(
        &[root.join("tests/components/trivial")],
        Some(&root.join("target/bench-components")),
    )
    .expect("building the trivial component");
    let bytes = std::fs::read(&built[0].path).unwrap();

    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("trivial connector, {SAMPLES} samples each (after {WARMUP} warm-up calls)\n");
    println!(
        "{:<10} {:<26} {:>10} {:>10} {:>10}",
        "pooling", "measure", "median", "p99", "mean"
    );
    let mut medians = Vec::new();
    for pooling in [true, false] {
        let runtime = Runtime::builder().pooling(pooling).build().unwrap();
        let connector = runtime.load(&bytes).unwrap();
        let ctx = runtime.context("bench");
        let (cold, warm) = tokio.block_on(async {
            for _ in 0..WARMUP {
                connector.test_connection(&ctx, "{}").await.result.unwrap();
            }
            let mut cold = Vec::with_capacity(SAMPLES);
            for _ in 0..SAMPLES {
                let started = Instant::now();
                let outcome = connector.test_connection(&ctx, "{}").await;
                cold.push(started.elapsed());
                outcome.result.unwrap();
            }
            let warm = connector
                .time_warm_calls(&ctx, "{}", SAMPLES + WARMUP)
                .await
                .unwrap()
                .split_off(WARMUP);
            (cold, warm)
        });
        let label = if pooling { "on" } else { "off" };
        let cold = report(label, "cold (instantiate + call)", cold);
        let warm = report(label, "warm call", warm);
        medians.push((cold, warm));
    }
    let (pool_cold, pool_warm) = medians[0];
    let (plain_cold, plain_warm) = medians[1];
    println!(
        "\npooling speeds up cold calls {:.2}x (median {} vs {}); warm calls {:.2}x",
        plain_cold.as_secs_f64() / pool_cold.as_secs_f64(),
        us(pool_cold),
        us(plain_cold),
        plain_warm.as_secs_f64() / pool_warm.as_secs_f64(),
    );
    println!(
        "targets: cold median <= 25 us: {}; warm median <= 2 us: {}",
        verdict(pool_cold <= Duration::from_micros(25)),
        verdict(pool_warm <= Duration::from_micros(2)),
    );
}

fn report(pooling: &str, measure: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let median = samples[samples.len() / 2];
    let p99 = samples[samples.len() * 99 / 100];
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "{pooling:<10} {measure:<26} {:>10} {:>10} {:>10}",
        us(median),
        us(p99),
        us(mean)
    );
    median
}

fn us(d: Duration) -> String {
    format!("{:.2} us", d.as_secs_f64() * 1e6)
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}
