//! Integrations: a connector, its configuration and what it may reach.
//!
//! The store keeps an integration's secret fields sealed to its row and
//! field ([`crate::secrets::Slot`]); this module seals what a form or the API
//! submits, and opens secrets only to hand a connector its configuration
//! for one call ([`CallConfig`]). Nothing here returns a secret to a page.

pub mod directory_bind;
pub mod mapping;
pub mod schema;
pub mod verdict;

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::runtime::{CallContext, Connector, HttpGrant, LdapGrant, Runtime, Secrets};
use crate::secrets::{Sealer, SecretError, Slot};
use crate::store::integrations::Integration;

pub use verdict::Verdict;

/// The table name bound into integrations' sealed secrets.
pub const SECRETS_TABLE: &str = "integrations";

/// Seals each secret for field `name` of integration `id`.
pub fn seal_secrets(
    sealer: &Sealer,
    id: i64,
    secrets: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let row = id.to_string();
    secrets
        .iter()
        .map(|(field, value)| {
            let slot = Slot {
                table: SECRETS_TABLE,
                row: &row,
                field,
            };
            (field.clone(), sealer.seal(value.as_bytes(), slot))
        })
        .collect()
}

/// The configuration handed to a connector for one call, secrets included,
/// and the secrets to scrub from what the call says.
pub struct CallConfig {
    pub json: Zeroizing<String>,
    pub secrets: Secrets,
}

impl CallConfig {
    /// Merges plain fields and opened secrets.
    pub fn new(plain: &Map<String, Value>, secrets: &BTreeMap<String, Zeroizing<String>>) -> Self {
        let mut config = plain.clone();
        for (field, value) in secrets {
            config.insert(field.clone(), Value::String(value.to_string()));
        }
        let json = Zeroizing::new(Value::Object(config).to_string());
        let secrets = Secrets::new(secrets.values().map(|s| s.as_str()));
        Self { json, secrets }
    }

    /// Opens an integration's stored secrets.
    pub fn of(sealer: &Sealer, integration: &Integration) -> Result<Self, SecretError> {
        let secrets = open_secrets(sealer, integration)?;
        Ok(Self::new(&integration.config, &secrets))
    }
}

/// Opens every secret of a stored integration.
pub fn open_secrets(
    sealer: &Sealer,
    integration: &Integration,
) -> Result<BTreeMap<String, Zeroizing<String>>, SecretError> {
    let row = integration.id.to_string();
    let mut out = BTreeMap::new();
    for (field, sealed) in &integration.sealed_secrets {
        let slot = Slot {
            table: SECRETS_TABLE,
            row: &row,
            field,
        };
        let bytes = sealer.open(sealed, slot)?;
        let text = String::from_utf8(bytes.to_vec()).map_err(|_| SecretError::Malformed)?;
        out.insert(field.clone(), Zeroizing::new(text));
    }
    Ok(out)
}

/// The call context of an integration: its grants, default limits, and the
/// secrets to scrub.
pub fn call_context(runtime: &Runtime, integration: &Integration, secrets: Secrets) -> CallContext {
    runtime
        .context(format!("integration:{}", integration.id))
        .with_http_grants(integration.http_grants.iter().cloned())
        .with_ldap_grants(integration.ldap_grants.iter().cloned())
        .with_secrets(secrets)
}

/// Runs the connector's `test-connection` and turns the outcome into a
/// verdict for people.
pub async fn test_connection(
    connector: &Connector,
    ctx: &CallContext,
    config: &CallConfig,
) -> Verdict {
    let outcome = connector.test_connection(ctx, &config.json).await;
    Verdict::from_outcome(outcome)
}

/// The word after a grant's pattern that lets it reach private addresses.
pub const PRIVATE_WORD: &str = "private";

/// Reads HTTP grants, one pattern per line, each optionally followed by
/// `private` (that grant may reach private-network, loopback and link-local
/// addresses); blank lines and `#` comments are skipped.
pub fn parse_http_grants(text: &str) -> Result<Vec<HttpGrant>, String> {
    grant_lines(text)
        .map(|line| {
            let mut words = line.split_whitespace();
            let pattern = words.next().unwrap_or_default();
            let private = match (words.next(), words.next()) {
                (None, _) => false,
                (Some(word), None) if word.eq_ignore_ascii_case(PRIVATE_WORD) => true,
                _ => {
                    return Err(format!(
                        "`{line}`: after a pattern only the word `{PRIVATE_WORD}` may follow \
                         (to let that destination reach addresses on your own network)"
                    ));
                }
            };
            HttpGrant::parse(pattern)
                .map(|g| g.allow_private(private))
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// A grant as a line of the form [`parse_http_grants`] reads.
pub fn http_grant_line(grant: &HttpGrant) -> String {
    let pattern = grant.pattern();
    if grant.allows_private() {
        format!("{pattern} {PRIVATE_WORD}")
    } else {
        pattern
    }
}

/// Reads LDAP grants, one `ldap[s]://host[:port]` per line.
pub fn parse_ldap_grants(text: &str) -> Result<Vec<LdapGrant>, String> {
    grant_lines(text).map(LdapGrant::parse).collect()
}

fn grant_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// The grants to offer by default: the connector's requests that name one
/// host (a request for `https://*` needs the admin to say which host).
pub fn suggested_grants(requested: &[String]) -> Vec<String> {
    requested
        .iter()
        .filter(|p| {
            let host = p.split_once("://").map(|(_, rest)| rest).unwrap_or(p);
            !host.starts_with('*')
        })
        .cloned()
        .collect()
}

/// Checks a mapping's transform: a minijinja template over the record's
/// fields, like `{{ given_name ~ " " ~ surname }}` or `{{ mail | lower }}`.
pub fn validate_transform(source: &str) -> Result<(), String> {
    let env = minijinja::Environment::new();
    env.template_from_str(source)
        .map(|_| ())
        .map_err(|e| format!("The transform is not a valid template: {e}"))
}
