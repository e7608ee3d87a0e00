//! Counters for `/metrics`, in the Prometheus text format.
//!
//! A fixed set of counters and one histogram, kept in atomics: the webhook
//! intake counts every request, so nothing here may take a lock. Gauges that
//! live in the database (jobs waiting, deliveries waiting) are read when
//! `/metrics` is scraped. No label carries a name, a URL or anything a
//! connector chose.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A counted event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A webhook delivery stored (acknowledged).
    DeliveryStored,
    /// A delivery refused as a duplicate.
    DeliveryDuplicate,
    /// A delivery refused: unknown endpoint, bad signature, too large.
    DeliveryRefused,
    DeliveryProcessed,
    DeliveryFailed,
    SyncSucceeded,
    SyncFailed,
    PushSucceeded,
    PushFailed,
    CallOk,
    CallConnectorError,
    CallDeadline,
    CallMemory,
    CallTrap,
    CallInstantiate,
}

const EVENTS: [(Event, &str, &str); 15] = [
    (
        Event::DeliveryStored,
        "cube_webhook_deliveries_total",
        "outcome=\"stored\"",
    ),
    (
        Event::DeliveryDuplicate,
        "cube_webhook_deliveries_total",
        "outcome=\"duplicate\"",
    ),
    (
        Event::DeliveryRefused,
        "cube_webhook_deliveries_total",
        "outcome=\"refused\"",
    ),
    (
        Event::DeliveryProcessed,
        "cube_webhook_processing_total",
        "outcome=\"processed\"",
    ),
    (
        Event::DeliveryFailed,
        "cube_webhook_processing_total",
        "outcome=\"failed\"",
    ),
    (
        Event::SyncSucceeded,
        "cube_sync_runs_total",
        "outcome=\"succeeded\"",
    ),
    (
        Event::SyncFailed,
        "cube_sync_runs_total",
        "outcome=\"failed\"",
    ),
    (
        Event::PushSucceeded,
        "cube_work_order_pushes_total",
        "outcome=\"succeeded\"",
    ),
    (
        Event::PushFailed,
        "cube_work_order_pushes_total",
        "outcome=\"failed\"",
    ),
    (
        Event::CallOk,
        "cube_connector_calls_total",
        "outcome=\"ok\"",
    ),
    (
        Event::CallConnectorError,
        "cube_connector_calls_total",
        "outcome=\"connector_error\"",
    ),
    (
        Event::CallDeadline,
        "cube_connector_calls_total",
        "outcome=\"deadline\"",
    ),
    (
        Event::CallMemory,
        "cube_connector_calls_total",
        "outcome=\"memory\"",
    ),
    (
        Event::CallTrap,
        "cube_connector_calls_total",
        "outcome=\"trap\"",
    ),
    (
        Event::CallInstantiate,
        "cube_connector_calls_total",
        "outcome=\"instantiate\"",
    ),
];

const HELP: [(&str, &str); 6] = [
    (
        "cube_webhook_deliveries_total",
        "Webhook requests by intake outcome.",
    ),
    (
        "cube_webhook_processing_total",
        "Webhook deliveries processed by a connector, by outcome (a failed attempt that will be retried counts as failed).",
    ),
    ("cube_sync_runs_total", "Sync job attempts by outcome."),
    (
        "cube_work_order_pushes_total",
        "Work-order push attempts by outcome.",
    ),
    (
        "cube_connector_calls_total",
        "Calls into connectors by outcome (sandbox traps, deadlines and memory limits included).",
    ),
    (
        "cube_sync_duration_seconds",
        "How long sync job attempts took.",
    ),
];

/// Upper bounds of the sync duration histogram, in seconds.
const BUCKETS: [f64; 10] = [0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0];

struct Registry {
    counts: [AtomicU64; EVENTS.len()],
    buckets: [AtomicU64; BUCKETS.len()],
    duration_count: AtomicU64,
    /// The sum of durations, in microseconds.
    duration_sum_us: AtomicU64,
}

static REGISTRY: Registry = Registry {
    counts: [const { AtomicU64::new(0) }; EVENTS.len()],
    buckets: [const { AtomicU64::new(0) }; BUCKETS.len()],
    duration_count: AtomicU64::new(0),
    duration_sum_us: AtomicU64::new(0),
};

/// Counts one event.
pub fn count(event: Event) {
    let index = EVENTS
        .iter()
        .position(|(e, _, _)| *e == event)
        .expect("every event is listed");
    REGISTRY.counts[index].fetch_add(1, Ordering::Relaxed);
}

/// The count of one event so far (for tests and the dashboard).
pub fn value(event: Event) -> u64 {
    let index = EVENTS
        .iter()
        .position(|(e, _, _)| *e == event)
        .expect("every event is listed");
    REGISTRY.counts[index].load(Ordering::Relaxed)
}

/// Records how long a sync attempt took.
pub fn sync_duration(took: Duration) {
    let seconds = took.as_secs_f64();
    for (bound, bucket) in BUCKETS.iter().zip(&REGISTRY.buckets) {
        if seconds <= *bound {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
    }
    REGISTRY.duration_count.fetch_add(1, Ordering::Relaxed);
    REGISTRY
        .duration_sum_us
        .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
}

/// Database gauges read at scrape time.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gauges {
    pub jobs_queued: i64,
    pub jobs_running: i64,
    pub deliveries_waiting: i64,
    pub pushes_waiting: i64,
    pub integrations_enabled: i64,
    pub integrations_failing: i64,
}

/// Everything, in the Prometheus text exposition format (version 0.0.4).
pub fn render(gauges: &Gauges) -> String {
    let mut out = String::new();
    for (name, help) in HELP {
        let kind = if name.ends_with("_seconds") {
            "histogram"
        } else {
            "counter"
        };
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        if kind == "histogram" {
            for (bound, bucket) in BUCKETS.iter().zip(&REGISTRY.buckets) {
                let _ = writeln!(
                    out,
                    "{name}_bucket{{le=\"{bound}\"}} {}",
                    bucket.load(Ordering::Relaxed)
                );
            }
            let count = REGISTRY.duration_count.load(Ordering::Relaxed);
            let sum = REGISTRY.duration_sum_us.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {sum}\n{name}_count {count}"
            );
            continue;
        }
        for (index, (_, metric, labels)) in EVENTS.iter().enumerate() {
            if *metric == name {
                let _ = writeln!(
                    out,
                    "{name}{{{labels}}} {}",
                    REGISTRY.counts[index].load(Ordering::Relaxed)
                );
            }
        }
    }
    for (name, help, value) in [
        (
            "cube_jobs_queued",
            "Sync jobs waiting to run.",
            gauges.jobs_queued,
        ),
        (
            "cube_jobs_running",
            "Sync jobs running now.",
            gauges.jobs_running,
        ),
        (
            "cube_webhook_deliveries_waiting",
            "Stored webhook deliveries not processed yet.",
            gauges.deliveries_waiting,
        ),
        (
            "cube_work_order_pushes_waiting",
            "Work-order changes not pushed yet.",
            gauges.pushes_waiting,
        ),
        (
            "cube_integrations_enabled",
            "Enabled integrations.",
            gauges.integrations_enabled,
        ),
        (
            "cube_integrations_failing",
            "Integrations whose last sync failed.",
            gauges.integrations_failing,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_the_histogram_render_in_the_text_format() {
        let before = value(Event::SyncFailed);
        count(Event::SyncFailed);
        assert_eq!(value(Event::SyncFailed), before + 1);
        sync_duration(Duration::from_millis(700));
        let text = render(&Gauges {
            jobs_queued: 3,
            jobs_running: 1,
            deliveries_waiting: 0,
            pushes_waiting: 2,
            integrations_enabled: 4,
            integrations_failing: 1,
        });
        assert!(
            text.contains(&format!(
                "cube_sync_runs_total{{outcome=\"failed\"}} {}",
                before + 1
            )),
            "{text}"
        );
        assert!(text.contains("# TYPE cube_sync_duration_seconds histogram"));
        assert!(text.contains("cube_sync_duration_seconds_bucket{le=\"+Inf\"}"));
        assert!(text.contains("cube_jobs_queued 3"));
        // Every sample line is `name{labels} number` or `name number`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, number) = line.rsplit_once(' ').unwrap();
            assert!(number.parse::<f64>().is_ok(), "{line}");
        }
    }
}
