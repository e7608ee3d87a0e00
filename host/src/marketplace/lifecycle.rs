//! After an install: rolling back to an older installed version, and
//! uninstalling a connector.
//!
//! Upgrading is an install of a newer version ([`super::install`]); it
//! keeps the versions before it, so a rollback is a change of `current`
//! (through a temporary file and a rename), not a copy. Uninstalling removes
//! every installed version of the connector, and is refused while
//! integrations use it unless the admin asks for them to be disabled.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::install::{InstallError, connectors_dir, current_version, set_current};
use super::package::COMPONENT as COMPONENT_FILE;
use crate::shared::connector_id::is_id;
use crate::store::Store;
use crate::store::audit::AuditEvent;

/// Why a rollback or an uninstall did nothing.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("`{0}` is not an installed connector id")]
    NotInstalled(String),
    #[error(
        "{id} {current} is the oldest installed version: there is no earlier version to roll back to. Install the version you want with `cube plugin install`"
    )]
    NoEarlierVersion { id: String, current: String },
    #[error(
        "{id} is used by {}: {}. Nothing was removed. Delete or move those integrations first, or uninstall with --disable-integrations to disable them",
        if .integrations.len() == 1 { "an integration" } else { "integrations" },
        .integrations.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
    )]
    InUse {
        id: String,
        integrations: Vec<String>,
    },
    #[error(transparent)]
    Install(#[from] InstallError),
    #[error("cannot change {path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("the database failed: {0}")]
    Store(#[from] sqlx::Error),
}

/// A rollback that succeeded.
#[derive(Debug)]
pub struct RolledBack {
    pub id: String,
    pub from: String,
    pub to: String,
    pub dir: PathBuf,
}

/// The installed versions of the connector in `id_dir` (directories whose
/// name is semver and that hold a component), in ascending order.
pub fn installed_versions(id_dir: &Path) -> Vec<semver::Version> {
    let Ok(entries) = std::fs::read_dir(id_dir) else {
        return Vec::new();
    };
    let mut versions: Vec<semver::Version> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().join(COMPONENT_FILE).is_file())
        .filter_map(|e| semver::Version::parse(e.file_name().to_str()?).ok())
        .collect();
    versions.sort();
    versions
}

fn id_dir(data_dir: &Path, id: &str) -> Result<PathBuf, LifecycleError> {
    let dir = connectors_dir(data_dir).join(id);
    if !is_id(id) || !dir.is_dir() {
        return Err(LifecycleError::NotInstalled(id.to_owned()));
    }
    Ok(dir)
}

/// The version [`rollback`] would go to: the highest installed version
/// below `current` in `id_dir`.
pub fn previous_version(id_dir: &Path, current: &str) -> Option<String> {
    let current = semver::Version::parse(current).ok()?;
    installed_versions(id_dir)
        .into_iter()
        .rfind(|v| *v < current)
        .map(|v| v.to_string())
}

/// Makes the highest installed version below the current one current.
pub fn rollback(data_dir: &Path, id: &str) -> Result<RolledBack, LifecycleError> {
    let dir = id_dir(data_dir, id)?;
    let current = current_version(&dir).ok_or_else(|| LifecycleError::NotInstalled(id.into()))?;
    let to = previous_version(&dir, &current).ok_or_else(|| LifecycleError::NoEarlierVersion {
        id: id.to_owned(),
        current: current.clone(),
    })?;
    set_current(&dir, &to)?;
    Ok(RolledBack {
        id: id.to_owned(),
        from: current,
        dir: dir.join(&to),
        to,
    })
}

/// An uninstall that succeeded.
#[derive(Debug)]
pub struct Uninstalled {
    pub id: String,
    /// The versions whose files were removed.
    pub versions: Vec<String>,
    /// The integrations disabled by it (with `disable_integrations`).
    pub disabled: Vec<String>,
}

/// Removes every installed version of `id`. Integrations whose connector it
/// is refuse it, unless `disable_integrations`: then the enabled ones are
/// disabled, each audited as `integration.disable`, and the uninstall is
/// audited as `marketplace.uninstall`, all by `actor`. `store` is `None`
/// when the host has no database (so no integrations).
///
/// The connector's directory is first renamed aside (so a failure before
/// the database is changed leaves it where it was, and one while changing
/// the database puts it back), and deleted last.
pub async fn uninstall(
    data_dir: &Path,
    store: Option<&Store>,
    id: &str,
    disable_integrations: bool,
    actor: &str,
) -> Result<Uninstalled, LifecycleError> {
    uninstall_from(data_dir, store, id, disable_integrations, actor, None).await
}

/// [`uninstall`] asked for from the address `remote` (the admin UI and the
/// API), which the audit entries record.
pub async fn uninstall_from(
    data_dir: &Path,
    store: Option<&Store>,
    id: &str,
    disable_integrations: bool,
    actor: &str,
    remote: Option<&str>,
) -> Result<Uninstalled, LifecycleError> {
    let dir = id_dir(data_dir, id)?;
    let users = match store {
        Some(store) => store
            .integrations()
            .await?
            .into_iter()
            .filter(|i| i.provider_id == id)
            .collect(),
        None => Vec::new(),
    };
    if !users.is_empty() && !disable_integrations {
        return Err(LifecycleError::InUse {
            id: id.to_owned(),
            integrations: users.into_iter().map(|i| i.name).collect(),
        });
    }
    let versions: Vec<String> = installed_versions(&dir)
        .iter()
        .map(ToString::to_string)
        .collect();
    let aside = connectors_dir(data_dir).join(format!(
        ".removing-{id}-{}-{}",
        std::process::id(),
        super::nanos()
    ));
    std::fs::rename(&dir, &aside).map_err(|error| LifecycleError::Io {
        path: dir.display().to_string(),
        error,
    })?;
    let mut disabled = Vec::new();
    if let Some(store) = store {
        let changed = async {
            for integration in users.iter().filter(|i| i.enabled) {
                store
                    .set_integration_enabled(integration.id, false, actor)
                    .await?;
                let mut after = integration.audit_view();
                after["enabled"] = json!(false);
                store
                    .audit(AuditEvent {
                        actor,
                        action: "integration.disable",
                        target: &format!("integration:{}", integration.id),
                        before: Some(integration.audit_view()),
                        after: Some(after),
                        remote,
                    })
                    .await?;
                disabled.push(integration.name.clone());
            }
            store
                .audit(AuditEvent {
                    actor,
                    action: "marketplace.uninstall",
                    target: &format!("connector:{id}"),
                    before: Some(json!({
                        "versions": versions,
                        "integrations": users.iter().map(|i| &i.name).collect::<Vec<_>>(),
                    })),
                    after: None,
                    remote,
                })
                .await?;
            Ok::<(), sqlx::Error>(())
        }
        .await;
        if let Err(error) = changed {
            let _ = std::fs::rename(&aside, &dir);
            return Err(error.into());
        }
    }
    // The connector is gone once renamed aside; what cannot be deleted is
    // only litter, skipped by the catalog (its name is not an id).
    let _ = std::fs::remove_dir_all(&aside);
    Ok(Uninstalled {
        id: id.to_owned(),
        versions,
        disabled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marketplace::install::CURRENT;

    fn install_fake(root: &Path, id: &str, versions: &[&str], current: &str) {
        for version in versions {
            let dir = root.join("connectors").join(id).join(version);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(COMPONENT_FILE), b"x").unwrap();
        }
        std::fs::write(
            root.join("connectors").join(id).join(CURRENT),
            format!("{current}\n"),
        )
        .unwrap();
    }

    #[test]
    fn rollback_goes_to_the_highest_version_below_current() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        install_fake(
            root,
            "jira",
            &["0.9.0", "0.10.0", "1.0.0", "2.0.0"],
            "1.0.0",
        );
        // A directory that is not a version, or holds no component, is no
        // place to roll back to.
        std::fs::create_dir_all(root.join("connectors/jira/0.11.0")).unwrap();
        std::fs::create_dir_all(root.join("connectors/jira/notes")).unwrap();
        let rolled = rollback(root, "jira").unwrap();
        assert_eq!(
            (rolled.from.as_str(), rolled.to.as_str()),
            ("1.0.0", "0.10.0")
        );
        assert_eq!(
            current_version(&root.join("connectors/jira")).as_deref(),
            Some("0.10.0")
        );
        rollback(root, "jira").unwrap();
        let error = rollback(root, "jira").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("0.9.0 is the oldest installed version"),
            "{error}"
        );
        assert_eq!(
            current_version(&root.join("connectors/jira")).as_deref(),
            Some("0.9.0")
        );
        assert!(matches!(
            rollback(root, "slack"),
            Err(LifecycleError::NotInstalled(_))
        ));
        assert!(matches!(
            rollback(root, "../jira"),
            Err(LifecycleError::NotInstalled(_))
        ));
    }

    #[tokio::test]
    async fn uninstall_without_a_database_removes_every_version() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        install_fake(root, "jira", &["1.0.0", "2.0.0"], "2.0.0");
        install_fake(root, "slack", &["1.0.0"], "1.0.0");
        let gone = uninstall(root, None, "jira", false, "cli").await.unwrap();
        assert_eq!(gone.versions, ["1.0.0", "2.0.0"]);
        let left: Vec<_> = std::fs::read_dir(root.join("connectors"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["slack"]);
        assert!(matches!(
            uninstall(root, None, "jira", false, "cli").await,
            Err(LifecycleError::NotInstalled(_))
        ));
    }
}
