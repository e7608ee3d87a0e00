//! A connector that loops, eats memory, traps or floods its log fails that
//! call only, with a clear error; the same runtime serves the next call.

use cube_test_support as common;

use std::time::{Duration, Instant};

use cube_host::runtime::{CallError, CallOutcome, Connector, Limits, LogLevel, Runtime};

fn config(action: &str) -> String {
    format!(r#"{{"action":"{action}"}}"#)
}

/// The probe's test connection doing `action` under `limits`.
async fn call_under(
    runtime: &Runtime,
    probe: &Connector,
    action: &str,
    limits: Limits,
) -> CallOutcome<String> {
    probe
        .test_connection(
            &runtime.context(action).with_limits(limits),
            &config(action),
        )
        .await
}

/// What the next ordinary call answers: the same runtime serves on.
async fn next_call(runtime: &Runtime, probe: &Connector) -> String {
    probe
        .test_connection(&runtime.context("next"), &config("ok"))
        .await
        .result
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loop_is_stopped_at_its_deadline_and_the_host_serves_on() {
    let runtime = common::runtime();
    let probe = common::probe(&runtime);
    let limits = Limits {
        deadline: Duration::from_millis(300),
        ..Limits::default()
    };
    let started = Instant::now();
    let outcome = call_under(&runtime, &probe, "loop", limits).await;
    let elapsed = started.elapsed();
    assert_eq!(
        outcome.result.unwrap_err(),
        CallError::DeadlineExceeded(Duration::from_millis(300))
    );
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(
        elapsed < Duration::from_secs(3),
        "stopped late: {elapsed:?}"
    );

    assert_eq!(next_call(&runtime, &probe).await, "probe is fine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loop_does_not_block_other_calls() {
    let runtime = common::runtime();
    let probe = common::probe(&runtime);
    let limits = Limits {
        deadline: Duration::from_secs(2),
        ..Limits::default()
    };
    let looping = {
        let probe = probe.clone();
        let ctx = runtime.context("loop").with_limits(limits);
        tokio::spawn(async move { probe.test_connection(&ctx, &config("loop")).await })
    };
    // While the loop spins, ordinary calls still complete promptly.
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..5 {
        let started = Instant::now();
        let ok = probe
            .test_connection(&runtime.context("ok"), &config("ok"))
            .await;
        assert!(ok.result.is_ok());
        assert!(started.elapsed() < Duration::from_millis(1500));
    }
    let looped = looping.await.unwrap();
    assert!(matches!(looped.result, Err(CallError::DeadlineExceeded(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_growth_past_the_cap_fails_the_call() {
    let runtime = common::runtime();
    let probe = common::probe(&runtime);
    let limits = Limits {
        memory_bytes: 16 << 20,
        ..Limits::default()
    };
    let outcome = call_under(&runtime, &probe, "grow", limits).await;
    let error = outcome.result.unwrap_err();
    assert_eq!(error, CallError::MemoryExceeded(16 << 20));
    assert!(
        error.to_string().contains("memory limit of 16 MiB"),
        "{error}"
    );

    next_call(&runtime, &probe).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_fails_the_call_with_the_panic_message_in_the_log() {
    let runtime = common::runtime();
    let probe = common::probe(&runtime);
    let outcome = call_under(&runtime, &probe, "trap", runtime.default_limits().clone()).await;
    match outcome.result {
        Err(CallError::Trap(message)) => {
            assert!(message.contains("unreachable"), "{message}");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    let panic_line = outcome
        .report
        .log
        .iter()
        .find(|l| l.level == LogLevel::Error)
        .expect("the SDK logs the panic");
    assert!(
        panic_line.message.contains("the probe was asked to trap"),
        "{panic_line:?}"
    );

    next_call(&runtime, &probe).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooded_log_is_capped_and_the_call_completes() {
    let runtime = common::runtime();
    let probe = common::probe(&runtime);
    let limits = Limits {
        log_bytes: 64 << 10,
        ..Limits::default()
    };
    let outcome = call_under(&runtime, &probe, "flood", limits).await;
    assert_eq!(outcome.result.unwrap(), "flooded");
    let log = &outcome.report.log;
    let kept: usize = log[..log.len() - 1].iter().map(|l| l.message.len()).sum();
    assert!(kept <= 64 << 10, "kept {kept} bytes");
    assert!(log.len() > 100, "some lines are kept");
    let last = log.last().unwrap();
    assert_eq!(last.level, LogLevel::Warn);
    assert!(
        last.message.contains("log limit of 65536 bytes reached"),
        "{}",
        last.message
    );

    next_call(&runtime, &probe).await;
}

/// Empty lines weigh nothing in bytes; before the line cap, two million of
/// them were all kept in the host's memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_of_empty_lines_is_capped_by_lines() {
    let runtime = common::runtime();
    let probe = common::probe(&runtime);
    let limits = Limits {
        log_lines: 1_000,
        ..Limits::default()
    };
    let outcome = call_under(&runtime, &probe, "flood-empty", limits).await;
    assert_eq!(outcome.result.unwrap(), "flooded with empty lines");
    let log = &outcome.report.log;
    assert_eq!(log.len(), 1_001, "1,000 lines kept and one saying so");
    let last = log.last().unwrap();
    assert_eq!(last.level, LogLevel::Warn);
    assert_eq!(
        last.message,
        "log limit of 1000 lines reached: 1999000 more lines (0 bytes) were dropped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_persists_per_integration_across_fresh_instances() {
    let runtime = common::runtime();
    let probe = common::probe(&runtime);
    for expected in ["call 1", "call 2", "call 3"] {
        let outcome = probe
            .test_connection(&runtime.context("a"), &config("state"))
            .await;
        assert_eq!(outcome.result.unwrap(), expected);
    }
    let other = probe
        .test_connection(&runtime.context("b"), &config("state"))
        .await;
    assert_eq!(other.result.unwrap(), "call 1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_pages_carry_records_and_cursors() {
    let runtime = common::runtime();
    let probe = common::probe(&runtime);
    let mut cursor = None;
    let mut ids = Vec::new();
    loop {
        let request = cube_host::runtime::types::SyncRequest {
            config: r#"{"pages":3}"#.into(),
            mode: cube_host::runtime::types::SyncMode::Full,
            cursor: cursor.clone(),
            dry_run: false,
            page_size: 2,
        };
        let page = probe
            .sync(&runtime.context("sync"), &request)
            .await
            .result
            .unwrap();
        ids.extend(page.records.iter().map(|r| r.external_id.clone()));
        cursor = page.cursor;
        if !page.has_more {
            break;
        }
    }
    assert_eq!(ids, ["0", "1", "2", "3", "4", "5"]);
    assert_eq!(cursor.as_deref(), Some("3"));
}
