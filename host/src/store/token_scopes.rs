//! What an API token may do: its scopes, how they include one another,
//! and which a role may hold; and the errors and name rules tokens and
//! service accounts share (decision 0035).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::users::Role;

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Scope {
    /// Read what the JSON API shows: integrations, jobs, logs, work orders.
    #[serde(rename = "read")]
    Read,
    /// Change work orders and their comments, run tests and syncs.
    #[serde(rename = "write")]
    Write,
    /// Manage integrations, webhooks, the marketplace and tokens.
    #[serde(rename = "admin")]
    Admin,
    /// Read the directory the host syncs.
    #[serde(rename = "directory:read")]
    DirectoryRead,
    /// Provision users and groups through SCIM 2.0.
    #[serde(rename = "scim")]
    Scim,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::Read,
        Scope::Write,
        Scope::Admin,
        Scope::DirectoryRead,
        Scope::Scim,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
            Scope::DirectoryRead => "directory:read",
            Scope::Scim => "scim",
        }
    }

    /// What the scope allows, in a sentence, for the creation form.
    pub fn description(self) -> &'static str {
        match self {
            Scope::Read => "read integrations, jobs, logs and work orders",
            Scope::Write => "change work orders and comments, test and sync integrations",
            Scope::Admin => "manage integrations, webhooks and the marketplace",
            Scope::DirectoryRead => "read directory users, groups and changes",
            Scope::Scim => "provision users and groups through SCIM 2.0",
        }
    }

    /// Whether a token with this scope may do what `wanted` allows:
    /// `admin` includes `write`, which includes `read`; `directory:read`
    /// and `scim` stand alone.
    pub fn includes(self, wanted: Scope) -> bool {
        match (self, wanted) {
            (Scope::Admin, Scope::Write | Scope::Read) | (Scope::Write, Scope::Read) => true,
            (have, wanted) => have == wanted,
        }
    }

    /// Whether someone of `role` may hold (and use) this scope.
    pub fn allowed_for(self, role: Role) -> bool {
        match role {
            Role::Admin => true,
            Role::Viewer => matches!(self, Scope::Read | Scope::DirectoryRead),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<_> = Scope::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown scope `{s}` (one of {})", known.join(", "))
            })
    }
}

/// Parses space- or comma-separated scopes; at least one.
pub fn parse_scopes(text: &str) -> Result<BTreeSet<Scope>, TokenError> {
    let scopes = text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(Scope::from_str)
        .collect::<Result<BTreeSet<_>, _>>()
        .map_err(TokenError::Invalid)?;
    if scopes.is_empty() {
        return Err(TokenError::Invalid(
            "a token needs at least one scope".into(),
        ));
    }
    Ok(scopes)
}

/// Why a token or service account could not be made or changed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{0}")]
    Invalid(String),
    #[error("the name `{0}` is taken")]
    Taken(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Names of tokens and service accounts: what a list or a log line can
/// show without quoting.
pub(super) fn validate_name(what: &str, name: &str) -> Result<(), TokenError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(())
    } else {
        Err(TokenError::Invalid(format!(
            "{what} names are 1 to 64 letters, digits, and . _ -"
        )))
    }
}

pub(super) fn role_of(row: &AnyRow, column: &str) -> Role {
    row.get::<Option<String>, _>(column)
        .and_then(|r| r.parse().ok())
        .unwrap_or(Role::Viewer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_from_lists_and_name_the_unknown() {
        let scopes = parse_scopes("read, directory:read  scim").unwrap();
        assert_eq!(
            scopes.into_iter().collect::<Vec<_>>(),
            [Scope::Read, Scope::DirectoryRead, Scope::Scim]
        );
        let error = parse_scopes("read sudo").unwrap_err().to_string();
        assert!(
            error.contains("`sudo`") && error.contains("directory:read"),
            "{error}"
        );
        assert!(parse_scopes(" ").is_err());
    }

    #[test]
    fn admin_includes_write_includes_read_and_the_rest_stand_alone() {
        assert!(Scope::Admin.includes(Scope::Read));
        assert!(Scope::Admin.includes(Scope::Write));
        assert!(Scope::Write.includes(Scope::Read));
        assert!(!Scope::Write.includes(Scope::Admin));
        assert!(!Scope::Read.includes(Scope::Write));
        assert!(!Scope::Admin.includes(Scope::DirectoryRead));
        assert!(!Scope::Admin.includes(Scope::Scim));
        assert!(Scope::Scim.includes(Scope::Scim));
    }

    #[test]
    fn viewers_hold_only_reading_scopes() {
        let allowed: Vec<_> = Scope::ALL
            .into_iter()
            .filter(|s| s.allowed_for(Role::Viewer))
            .collect();
        assert_eq!(allowed, [Scope::Read, Scope::DirectoryRead]);
        assert!(Scope::ALL.iter().all(|s| s.allowed_for(Role::Admin)));
    }
}
