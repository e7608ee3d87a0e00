//! The full-sync schedule in the integration forms (create, edit, the
//! wizard's access step) and the JSON API: reading it from the submitted
//! inputs, the default a connector gets, and what the integration's page
//! shows. The schedules themselves are `store::schedules` (decision 0032).

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::integrations::schema::FieldErrors;
use crate::runtime::types::ConnectorInfo;
use crate::store::integrations::Integration;
use crate::store::schedules::FullSyncSchedule;

/// The inputs of the full-sync schedule.
pub(in crate::web) const INTERVAL: &str = "full_sync_interval_minutes";
pub(in crate::web) const CRON: &str = "full_sync_cron";

/// The longest full-sync interval accepted, in minutes (31 days).
const MAX_MINUTES: i64 = 31 * 24 * 60;

/// What a new integration of `info`'s connector starts with: a full sync
/// every day for a directory (a connector that reaches LDAP, whose
/// incremental syncs do not see deletions), none for the others, whose
/// syncs stay what they were before there were two schedules.
pub(in crate::web) fn default_for(info: &ConnectorInfo) -> FullSyncSchedule {
    if info.capabilities.ldap.is_empty() {
        FullSyncSchedule::default()
    } else {
        FullSyncSchedule::daily()
    }
}

/// Reads the full-sync schedule from submitted inputs; problems go into
/// `errors`, beside the field to fix.
pub(in crate::web) fn read(
    input: &HashMap<String, String>,
    errors: &mut FieldErrors,
) -> FullSyncSchedule {
    let get = |k: &str| input.get(k).map(|s| s.trim()).unwrap_or("");
    let interval_secs = match get(INTERVAL) {
        "" => None,
        text => match text.parse::<i64>() {
            Ok(minutes) if (1..=MAX_MINUTES).contains(&minutes) => Some(minutes * 60),
            _ => {
                errors.insert(
                    INTERVAL.into(),
                    format!(
                        "Enter whole minutes from 1 to {MAX_MINUTES} (1440 is once a day), or leave \
                         both full-sync fields empty for no scheduled full syncs."
                    ),
                );
                None
            }
        },
    };
    let cron = match get(CRON) {
        "" => None,
        text => match crate::schedule::parse_cron(text) {
            Ok(_) if !get(INTERVAL).is_empty() => {
                errors.insert(
                    CRON.into(),
                    "Choose an interval or a cron expression for full syncs, not both.".into(),
                );
                None
            }
            Ok(_) => Some(text.to_owned()),
            Err(message) => {
                errors.insert(CRON.into(), message);
                None
            }
        },
    };
    FullSyncSchedule {
        interval_secs,
        cron,
    }
}

/// The form inputs that show `schedule`.
pub(in crate::web) fn values(schedule: &FullSyncSchedule) -> Map<String, Value> {
    let mut values = Map::new();
    if let Some(secs) = schedule.interval_secs {
        values.insert(INTERVAL.into(), json!((secs / 60).to_string()));
    }
    if let Some(cron) = &schedule.cron {
        values.insert(CRON.into(), json!(cron));
    }
    values
}

/// When the next syncs of each kind run, for the integration's page, in
/// milliseconds: `null` for a schedule that is unset, "due" when it is due
/// now (the worker queues it within seconds, or after the sync running
/// now). A cron schedule not yet seen by the worker runs at its next time.
pub(in crate::web) fn next_runs(integration: &Integration) -> Value {
    let now = crate::store::now_millis();
    let next = |interval: Option<i64>, cron: &Option<String>, at: Option<i64>| -> Value {
        match (interval, cron, at) {
            (None, None, _) => Value::Null,
            (_, _, Some(at)) if at > now => json!(at),
            (None, Some(cron), None) => json!(crate::schedule::next_cron_run(cron, now)),
            _ => json!("due"),
        }
    };
    json!({
        "incremental": next(integration.sync_interval_secs, &integration.sync_cron, integration.next_sync_at),
        "full": next(integration.full_sync_interval_secs, &integration.full_sync_cron, integration.next_full_sync_at),
    })
}
