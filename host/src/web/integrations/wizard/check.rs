//! Checks inside the wizard: after a step the schema lists in
//! `x-cube-checks`, the connection test runs with what was typed so far
//! (a bind with the credentials just entered, a preview of what the search
//! bases match), so a mistake shows on the step that made it.
//!
//! A check runs with the grants the draft has. When the connector was
//! refused a destination, the page names it and offers to grant exactly
//! that: the admin never has to guess grant patterns, and nothing is
//! reachable that the admin did not allow.

use std::collections::BTreeMap;

use serde::Serialize;

use super::super::super::AppState;
use super::super::super::error::Error;
use super::{as_input, open_draft_secrets};
use crate::integrations::schema::ConfigForm;
use crate::integrations::{self, CallConfig, Verdict};
use crate::runtime::{CallOutcome, Connector, HttpGrant, LdapGrant};
use crate::store::drafts::Draft;

/// A check's outcome, as the page shows it.
#[derive(Debug, Serialize)]
pub(super) struct StepCheck {
    /// The step it checked.
    pub step: String,
    pub verdict: Verdict,
    /// Destinations the connector was refused, to offer as grants.
    pub wanted: Vec<String>,
}

/// Runs the connection test with the fields of `steps[..=step]`.
pub(super) async fn run(
    state: &AppState,
    connector: &Connector,
    form: &ConfigForm,
    draft: &Draft,
    steps: &[String],
    step: usize,
) -> Result<StepCheck, Error> {
    let fields: Vec<_> = steps[..=step]
        .iter()
        .flat_map(|s| form.fields_of_step(s))
        .collect();
    let secrets_set: Vec<&str> = draft.sealed_secrets.keys().map(String::as_str).collect();
    // The step's own fields were validated before; earlier ones were too,
    // when their steps were left. Anything still wrong is reported.
    let submitted = form
        .parse(&as_input(draft), Some(&fields), &secrets_set)
        .map_err(|errors| {
            let names: Vec<String> = errors.keys().cloned().collect();
            Error::BadRequest(format!(
                "Fix these fields before the check: {}.",
                names.join(", ")
            ))
        })?;
    let secrets = open_draft_secrets(state, draft)?;
    let config = CallConfig::new(&submitted.plain, &secrets);
    let ctx = draft_context(state, draft).with_secrets(config.secrets.clone());
    let verdict = integrations::test_connection(connector, &ctx, &config).await;
    let wanted = if verdict.ok {
        Vec::new()
    } else {
        ctx.denials.list()
    };
    Ok(StepCheck {
        step: steps[step].clone(),
        verdict,
        wanted,
    })
}

/// What the connector offers for one field of the step being shown.
#[derive(Debug, Default, Serialize)]
pub(super) struct Offer {
    /// The values, with labels for people.
    pub choices: Vec<OfferedChoice>,
    /// Why nothing could be listed, in words for the admin.
    pub problem: Option<String>,
}

#[derive(Debug, Serialize)]
pub(super) struct OfferedChoice {
    pub value: String,
    pub label: String,
}

/// Asks the connector for the values it offers for each field of
/// `steps[step]` marked `x-cube-choices`, with the fields of the earlier
/// steps as configuration. A failure is shown beside the field, which then
/// stays a plain input: a wizard must never be stuck because a list could
/// not be read.
pub(super) async fn offers(
    state: &AppState,
    connector: &Connector,
    form: &ConfigForm,
    draft: &Draft,
    steps: &[String],
    step: usize,
) -> BTreeMap<String, Offer> {
    let mut out = BTreeMap::new();
    let Some(name) = steps.get(step) else {
        return out;
    };
    let wanted: Vec<_> = form.fields_of_step(name).filter(|f| f.choices).collect();
    if wanted.is_empty() {
        return out;
    }
    let earlier: Vec<_> = steps[..step]
        .iter()
        .flat_map(|s| form.fields_of_step(s))
        .collect();
    let secrets_set: Vec<&str> = draft.sealed_secrets.keys().map(String::as_str).collect();
    let problem = |text: String| Offer {
        choices: Vec::new(),
        problem: Some(text),
    };
    let submitted = match form.parse(&as_input(draft), Some(&earlier), &secrets_set) {
        Ok(submitted) => submitted,
        Err(_) => {
            for field in wanted {
                out.insert(
                    field.name.clone(),
                    problem("Complete the earlier steps to see the values offered here.".into()),
                );
            }
            return out;
        }
    };
    let Ok(secrets) = open_draft_secrets(state, draft) else {
        return out;
    };
    let config = CallConfig::new(&submitted.plain, &secrets);
    let ctx = draft_context(state, draft).with_secrets(config.secrets.clone());
    for field in wanted {
        let outcome = connector.choices(&ctx, &config.json, &field.name).await;
        let offer = match outcome.result {
            Ok(list) => Offer {
                choices: list
                    .into_iter()
                    .map(|c| OfferedChoice {
                        value: c.value,
                        label: c.label,
                    })
                    .collect(),
                problem: None,
            },
            Err(error) => {
                let verdict = Verdict::from_outcome(CallOutcome {
                    result: Err(error),
                    report: outcome.report,
                });
                problem(format!(
                    "The values could not be listed ({}: {}). {}",
                    verdict.headline, verdict.detail, verdict.advice
                ))
            }
        };
        out.insert(field.name.clone(), offer);
    }
    out
}

/// The call context of a draft: the grants typed (or allowed) so far.
fn draft_context(state: &AppState, draft: &Draft) -> crate::runtime::CallContext {
    let text = |key: &str| {
        draft
            .values
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    state
        .runtime
        .context(format!("draft:{}", &draft.id[..12]))
        .with_http_grants(integrations::parse_http_grants(&text("http_grants")).unwrap_or_default())
        .with_ldap_grants(integrations::parse_ldap_grants(&text("ldap_grants")).unwrap_or_default())
}

/// Adds the destinations a check was refused (as the page offered them) to
/// the draft's grants. Returns what was added; anything that is not a
/// valid grant is refused whole.
pub(super) fn allow(draft: &mut Draft, offered: &str) -> Result<Vec<String>, Error> {
    let mut added = Vec::new();
    for destination in offered.split_whitespace() {
        let key = if destination.starts_with("ldap://") || destination.starts_with("ldaps://") {
            LdapGrant::parse(destination).map_err(Error::BadRequest)?;
            "ldap_grants"
        } else {
            HttpGrant::parse(destination).map_err(|e| Error::BadRequest(e.to_string()))?;
            "http_grants"
        };
        let current = draft
            .values
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        let granted = |line: &str| line.split_whitespace().next() == Some(destination);
        if current.lines().any(granted) {
            continue;
        }
        let updated = if current.trim().is_empty() {
            destination.to_owned()
        } else {
            format!("{}\n{destination}", current.trim_end())
        };
        draft.values.insert(key.to_owned(), updated.into());
        added.push(destination.to_owned());
    }
    Ok(added)
}
