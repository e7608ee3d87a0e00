//! Who may publish under a connector id.
//!
//! A connector id is a promise to every integration that uses it: the next
//! version receives those integrations' decrypted secrets and writes the
//! data they feed (directory sync writes what sign-in trusts). So an id is
//! owned, and the catalog, not only the installer, holds to it:
//!
//! - The ids of the connectors this host bundles (the `*.wasm` files of its
//!   `--connectors` directories) are the host's own. A package under such an
//!   id is refused, unless an admin explicitly chooses to replace the
//!   bundled connector; that choice is recorded with the id
//!   ([`Owner::replaces_bundled`]) and the catalog loads an installed
//!   package over a bundled connector only when it finds it.
//! - Any other id is owned by the publisher of its first install
//!   (`connectors/<id>/owner.json`). A later package is accepted only from
//!   the same publisher: a key this host trusts for that publisher's name,
//!   or the very key the first install was signed with. Uninstalling every
//!   version frees the id.
//!
//! Installs made before owners were recorded have no `owner.json`; their
//! oldest install record stands in for it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::package::Capabilities;
use super::record::{INSTALL_RECORD, InstallRecord, read_record};
use crate::store::Store;
use crate::store::audit::AuditEvent;

/// `connectors/<id>/owner.json`.
pub const OWNER_FILE: &str = "owner.json";
/// `connectors/bundled.json`: the connectors the server bundled when it
/// last started, for `cube plugin install`, which runs without them.
pub const BUNDLED_FILE: &str = "bundled.json";

/// Who owns a connector id on this host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// The publisher named by the first install.
    pub publisher: String,
    /// The key that signed the first install, if it was signed.
    pub key_id: Option<String>,
    /// Whether that key was trusted for `publisher` (so the name is
    /// vouched for, not only claimed).
    pub trusted: bool,
    /// RFC 3339.
    pub since: String,
    /// Set when an admin chose to replace the bundled connector of this id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces_bundled: Option<Replacement>,
}

/// An admin's choice to replace a bundled connector.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replacement {
    /// Who chose it (`web:<user>`, `api:<user>`, `cli`).
    pub approved_by: String,
    /// RFC 3339.
    pub approved_at: String,
}

/// Who a package says it is from, as far as its signature proves.
#[derive(Clone, Copy, Debug)]
pub struct Claimant<'a> {
    /// The publisher the manifest names.
    pub publisher: &'a str,
    /// The key that signed it, if any (valid, trusted or not).
    pub key_id: Option<&'a str>,
    /// Whether that key is trusted for `publisher`.
    pub trusted: bool,
}

/// Why a package may not take an id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Another publisher owns the id.
    OwnedByAnother(Box<Owner>),
    /// The id is a bundled connector's, and no admin chose to replace it.
    Bundled,
}

/// The connectors a host bundles, by id, with what each may reach.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundled {
    pub connectors: BTreeMap<String, Capabilities>,
}

impl Bundled {
    pub fn contains(&self, id: &str) -> bool {
        self.connectors.contains_key(id)
    }

    /// What the server recorded at its last start in `connectors`, or
    /// nothing if it never started with this data directory.
    pub fn recorded(connectors: &Path) -> Bundled {
        std::fs::read(connectors.join(BUNDLED_FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Records these as the bundled connectors, for `cube plugin install`.
    pub fn record(&self, connectors: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(connectors)?;
        let mut bytes = serde_json::to_vec_pretty(self).expect("bundled ids serialise");
        bytes.push(b'\n');
        super::write_atomic(&connectors.join(BUNDLED_FILE), &bytes)
    }
}

/// The owner of the id whose directory is `id_dir`: `owner.json`, or, for
/// installs from before owners were recorded, the oldest install record.
pub fn owner(id_dir: &Path) -> Option<Owner> {
    if let Some(owner) = std::fs::read(id_dir.join(OWNER_FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
    {
        return Some(owner);
    }
    let oldest: InstallRecord = std::fs::read_dir(id_dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.path().join(INSTALL_RECORD).is_file())
        .filter_map(|e| read_record(&e.path()))
        .min_by(|a, b| a.installed_at.cmp(&b.installed_at))?;
    Some(Owner {
        publisher: oldest.publisher,
        key_id: oldest.key_id,
        trusted: oldest.trusted,
        since: oldest.installed_at,
        replaces_bundled: None,
    })
}

/// Writes `connectors/<id>/owner.json`.
pub fn write_owner(id_dir: &Path, owner: &Owner) -> std::io::Result<()> {
    std::fs::create_dir_all(id_dir)?;
    let mut bytes = serde_json::to_vec_pretty(owner).expect("an owner serialises");
    bytes.push(b'\n');
    super::write_atomic(&id_dir.join(OWNER_FILE), &bytes)
}

/// Whether `claimant` may publish under an id owned by `owner` (`None`: the
/// id is free), given whether the id is a bundled connector's.
pub fn check(owner: Option<&Owner>, bundled: bool, claimant: Claimant) -> Result<(), Refusal> {
    if bundled && owner.is_none_or(|o| o.replaces_bundled.is_none()) {
        return Err(Refusal::Bundled);
    }
    match owner {
        None => Ok(()),
        Some(owner) if same_publisher(owner, claimant) => Ok(()),
        Some(owner) => Err(Refusal::OwnedByAnother(Box::new(owner.clone()))),
    }
}

/// The same publisher: the very key of the first install, or a key this
/// host trusts for the same name. An unsigned first install (no key) is
/// matched by name only by another unsigned or untrusted package, each of
/// which an admin had to accept explicitly; it never blocks a trusted one
/// of the same name.
fn same_publisher(owner: &Owner, claimant: Claimant) -> bool {
    if owner.key_id.is_some() && owner.key_id.as_deref() == claimant.key_id {
        return true;
    }
    if owner.publisher != claimant.publisher {
        return false;
    }
    claimant.trusted || !owner.trusted
}

/// What replacing the connector `id` hands to the replacement: the
/// integrations that use it and their secrets, which every call of the new
/// connector receives decrypted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Impact {
    /// The integrations' names.
    pub integrations: Vec<String>,
    /// Secret fields set across them.
    pub secrets: usize,
}

impl Impact {
    /// What the integrations in `store` that use `id` hold.
    pub async fn of(store: &Store, id: &str) -> Result<Impact, sqlx::Error> {
        let mut impact = Impact::default();
        for integration in store.integrations().await? {
            if integration.provider_id == id {
                impact.secrets += integration.sealed_secrets.len();
                impact.integrations.push(integration.name);
            }
        }
        Ok(impact)
    }

    /// In words: "the integrations A and B (3 secrets)".
    pub fn sentence(&self) -> String {
        match self.integrations.as_slice() {
            [] => "no integration (no secrets)".to_owned(),
            names => format!(
                "{} integration{} ({}), with {} secret{}",
                names.len(),
                if names.len() == 1 { "" } else { "s" },
                names.join(", "),
                self.secrets,
                if self.secrets == 1 { "" } else { "s" }
            ),
        }
    }
}

/// Audits an admin's replacement of the bundled connector `record.id`: who,
/// which package, what it asks for beyond the bundled connector (and no
/// longer asks for), and what it receives.
pub async fn audit_replacement(
    store: &Store,
    actor: &str,
    remote: Option<&str>,
    record: &InstallRecord,
    diff: &CapabilityDiff,
    impact: &Impact,
) -> Result<(), sqlx::Error> {
    store
        .audit(AuditEvent {
            actor,
            action: "marketplace.replace_bundled",
            target: &format!("connector:{}", record.id),
            before: Some(serde_json::json!({ "bundled": true })),
            after: Some(serde_json::json!({
                "version": record.version,
                "publisher": record.publisher,
                "key_id": record.key_id,
                "trusted": record.trusted,
                "sha256": record.sha256,
                "added_capabilities": diff.added,
                "removed_capabilities": diff.removed,
                "integrations": impact.integrations,
                "secrets": impact.secrets,
            })),
            remote,
        })
        .await
}

/// How a package's capabilities differ from the bundled connector's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CapabilityDiff {
    pub added: Capabilities,
    pub removed: Capabilities,
}

impl CapabilityDiff {
    /// `package` against `bundled`.
    pub fn between(package: &Capabilities, bundled: &Capabilities) -> Self {
        Self {
            added: super::capabilities::added(package, bundled),
            removed: super::capabilities::added(bundled, package),
        }
    }

    /// One line per change: "+ Connects to ..." / "- Connects to ...".
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for (caps, sign) in [(&self.added, '+'), (&self.removed, '-')] {
            for pattern in caps.http.iter().chain(&caps.ldap) {
                let sentence = super::capabilities::sentence(pattern);
                lines.push(format!("{sign} {sentence} ({pattern})"));
            }
        }
        if lines.is_empty() {
            lines.push("asks for exactly what the bundled connector asks for".to_owned());
        }
        lines
    }
}

/// Whether the catalog may load the installed package in `id_dir` over a
/// bundled connector of the same id: only if an admin chose to.
pub fn may_replace_bundled(id_dir: &Path) -> bool {
    owner(id_dir).is_some_and(|o| o.replaces_bundled.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(publisher: &str, key_id: Option<&str>, trusted: bool) -> Owner {
        Owner {
            publisher: publisher.into(),
            key_id: key_id.map(Into::into),
            trusted,
            since: "2026-01-01T00:00:00Z".into(),
            replaces_bundled: None,
        }
    }

    fn claim<'a>(publisher: &'a str, key_id: Option<&'a str>, trusted: bool) -> Claimant<'a> {
        Claimant {
            publisher,
            key_id,
            trusted,
        }
    }

    #[test]
    fn a_free_id_goes_to_anyone_and_a_taken_one_to_its_publisher() {
        assert_eq!(check(None, false, claim("acme", Some("k1"), true)), Ok(()));
        let globex = owner("globex", Some("g1"), true);
        // The same publisher, with its old key or a newly trusted one.
        assert_eq!(
            check(Some(&globex), false, claim("globex", Some("g1"), true)),
            Ok(())
        );
        assert_eq!(
            check(Some(&globex), false, claim("globex", Some("g2"), true)),
            Ok(())
        );
        // Another publisher, trusted or not; or the name without the trust.
        for claimant in [
            claim("acme", Some("a1"), true),
            claim("acme", None, false),
            claim("globex", Some("forged"), false),
            claim("globex", None, false),
        ] {
            assert_eq!(
                check(Some(&globex), false, claimant),
                Err(Refusal::OwnedByAnother(Box::new(globex.clone()))),
                "{claimant:?}"
            );
        }
    }

    #[test]
    fn an_unsigned_first_install_binds_its_name_only() {
        let unsigned = owner("hobbyist", None, false);
        assert_eq!(
            check(Some(&unsigned), false, claim("hobbyist", None, false)),
            Ok(())
        );
        assert_eq!(
            check(Some(&unsigned), false, claim("hobbyist", Some("h1"), true)),
            Ok(())
        );
        assert!(check(Some(&unsigned), false, claim("acme", None, false)).is_err());
    }

    #[test]
    fn a_bundled_id_is_taken_only_by_an_admins_choice() {
        assert_eq!(
            check(None, true, claim("acme", Some("a1"), true)),
            Err(Refusal::Bundled)
        );
        let mut acme = owner("acme", Some("a1"), true);
        assert_eq!(
            check(Some(&acme), true, claim("acme", Some("a1"), true)),
            Err(Refusal::Bundled)
        );
        acme.replaces_bundled = Some(Replacement {
            approved_by: "web:admin".into(),
            approved_at: "2026-01-02T00:00:00Z".into(),
        });
        assert_eq!(
            check(Some(&acme), true, claim("acme", Some("a1"), true)),
            Ok(())
        );
        // The admin chose acme's package, not anyone's.
        assert!(matches!(
            check(Some(&acme), true, claim("evil", Some("e1"), true)),
            Err(Refusal::OwnedByAnother(_))
        ));
    }

    #[test]
    fn old_installs_are_owned_by_their_oldest_record() {
        let dir = tempfile::tempdir().unwrap();
        for (version, publisher, at) in [
            ("1.1.0", "acme", "2026-03-01T00:00:00Z"),
            ("1.0.0", "globex", "2026-02-01T00:00:00Z"),
        ] {
            let version_dir = dir.path().join(version);
            std::fs::create_dir_all(&version_dir).unwrap();
            let record = InstallRecord {
                id: "x".into(),
                version: version.into(),
                publisher: publisher.into(),
                trusted: true,
                key_id: Some(format!("{publisher}-key")),
                installed_at: at.into(),
                sha256: String::new(),
                component_sha256: String::new(),
            };
            std::fs::write(
                version_dir.join(INSTALL_RECORD),
                serde_json::to_vec(&record).unwrap(),
            )
            .unwrap();
        }
        let found = super::owner(dir.path()).unwrap();
        assert_eq!(found.publisher, "globex");
        assert_eq!(found.key_id.as_deref(), Some("globex-key"));
        assert!(!may_replace_bundled(dir.path()));

        let recorded = owner("acme", Some("a1"), true);
        write_owner(dir.path(), &recorded).unwrap();
        assert_eq!(super::owner(dir.path()), Some(recorded));
    }
}
