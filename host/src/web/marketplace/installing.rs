//! Installing a package from the admin UI or the API, the same way: who
//! asks (for the audit log), why it could not be done, what replacing a
//! bundled connector changes, and the install itself, from the server's
//! registry ([`install_package`]) or from uploaded bytes
//! ([`install_bytes`]), checked like `cube plugin install`.

use std::net::SocketAddr;

use axum::http::StatusCode;
use serde_json::json;

use super::super::AppState;
use super::super::error::Error;
use super::super::session::Admin;
use super::upgrade;
use crate::marketplace::capabilities;
use crate::marketplace::install::{self, InstallError, InstallOptions};
use crate::marketplace::ownership::{self, CapabilityDiff, Impact};
use crate::marketplace::package::{COMPONENT, Package};
use crate::marketplace::registry::RegistryError;
use crate::marketplace::source::CACHE_DIR;
use crate::store::audit::AuditEvent;

/// Who asks for a change, for the audit log.
pub(in crate::web) struct Requester<'a> {
    pub actor: &'a str,
    pub remote: SocketAddr,
    /// `web` or `api`.
    pub via: &'static str,
}

impl<'a> Requester<'a> {
    /// An admin acting through the admin pages.
    pub(in crate::web) fn web(admin: &'a Admin, remote: SocketAddr) -> Self {
        Requester {
            actor: &admin.0.user().username,
            remote,
            via: "web",
        }
    }

    pub(super) fn address(&self) -> String {
        self.remote.ip().to_string()
    }
}

/// Why a marketplace action did nothing. Pages and the API each show it
/// their way; the messages say what to do, in both.
pub(in crate::web) enum Failure {
    /// No such package, installed connector or trusted key.
    NotFound,
    /// The message says which check failed and what to do.
    Refused(String),
    /// An upgrade asks for capabilities the installed version does not.
    NewCapabilities {
        message: String,
        /// The installed version.
        current: String,
        /// What is new, in plain words, each with its pattern.
        added: Vec<String>,
    },
    /// The package would replace a bundled connector, which needs the
    /// admin's explicit choice.
    ReplacesBundled {
        message: String,
        replacement: Box<Replacement>,
    },
    /// Integrations use the connector.
    InUse {
        message: String,
        integrations: Vec<String>,
    },
    /// A submitted field is unusable (`field` names it).
    Invalid {
        field: &'static str,
        message: String,
    },
    Internal(anyhow::Error),
}

impl Failure {
    pub(super) fn panicked(what: &str, error: tokio::task::JoinError) -> Self {
        Failure::Internal(anyhow::anyhow!("{what} panicked: {error}"))
    }

    /// For a page: a refusal's status (409 when in use, else 422) and
    /// message, shown on the page the admin acted on; a missing thing or
    /// an internal error is the error page.
    pub(super) fn refusal(self) -> Result<(StatusCode, String), Error> {
        match self {
            Failure::NotFound => Err(Error::NotFound),
            Failure::Internal(error) => Err(Error::Internal(error)),
            Failure::InUse { message, .. } => Ok((StatusCode::CONFLICT, message)),
            Failure::Refused(message)
            | Failure::NewCapabilities { message, .. }
            | Failure::ReplacesBundled { message, .. }
            | Failure::Invalid { message, .. } => Ok((StatusCode::UNPROCESSABLE_ENTITY, message)),
        }
    }
}

/// The data directory, or why there is none.
pub(super) fn data_dir(state: &AppState) -> Result<std::path::PathBuf, Failure> {
    state.data_dir.clone().ok_or_else(|| {
        Failure::Refused(
            "This server has no data directory: start it with --data-dir DIR (or CUBE_DATA_DIR)."
                .to_owned(),
        )
    })
}

/// What replacing a bundled connector changes, for the admin to review.
#[derive(Clone, Debug, serde::Serialize)]
pub(in crate::web) struct Replacement {
    /// How the package's capabilities differ from the bundled connector's.
    pub diff: CapabilityDiff,
    /// The same, one line per change.
    pub lines: Vec<String>,
    /// The integrations it would serve, and their secrets.
    pub impact: Impact,
}

impl Replacement {
    pub(super) async fn of(
        state: &AppState,
        id: &str,
        diff: CapabilityDiff,
    ) -> Result<Self, Failure> {
        let impact = Impact::of(&state.store, id)
            .await
            .map_err(|e| Failure::Internal(e.into()))?;
        Ok(Self {
            lines: diff.lines(),
            diff,
            impact,
        })
    }
}

/// A finished install.
pub(in crate::web) struct Done {
    pub record: install::InstallRecord,
    pub already: bool,
    /// The version that was current before, when it was another one (it
    /// stays installed, for a rollback).
    pub previous: Option<String>,
    /// The new capabilities the admin approved, in plain words.
    pub approved: Vec<String>,
    /// Why the installed connector did not load into the running catalog.
    pub load_error: Option<String>,
}

/// Installs `id` `version` from the server's registry: [`install_bytes`]
/// with what the registry serves, checked against its index.
pub(in crate::web) async fn install_package(
    state: &AppState,
    who: &Requester<'_>,
    id: &str,
    version: &str,
    options: InstallOptions,
) -> Result<Done, Failure> {
    let Some(registry) = state.registry.clone() else {
        return Err(Failure::Refused(
            "No registry is configured: start the server with --registry DIR or URL.".to_owned(),
        ));
    };
    let cache = data_dir(state)?.join(CACHE_DIR);
    let bytes = match registry
        .fetch(&state.outbound.downloads, id, Some(version), Some(&cache))
        .await
    {
        Ok((_, bytes)) => bytes,
        Err(RegistryError::NoSuchPackage(_) | RegistryError::NoSuchVersion { .. }) => {
            return Err(Failure::NotFound);
        }
        Err(error) => return Err(Failure::Refused(error.to_string())),
    };
    install_bytes(state, who, &bytes, options, &format!("registry {registry}")).await
}

/// Verifies and installs the package `bytes` (from a registry, a URL or an
/// upload: `source` says which, for the audit log), audits it, and loads it
/// into the running catalog. `options` are the admin's consent to an
/// untrusted package and approval of new capabilities.
pub(in crate::web) async fn install_bytes(
    state: &AppState,
    who: &Requester<'_>,
    bytes: &[u8],
    options: InstallOptions,
    source: &str,
) -> Result<Done, Failure> {
    let data_dir = data_dir(state)?;
    // While the server is still loading, a bundled connector not loaded yet
    // is not in this list; the catalog refuses the package when it loads it
    // (see crate::catalog), so the bundled connector still wins.
    let bundled = state.catalog.bundled();
    // What the install changes, for the audit log (install_with makes the
    // same comparisons to refuse an unapproved one).
    let package = Package::from_bytes(bytes).ok();
    let (previous, added) = package
        .as_ref()
        .map(|p| upgrade(&data_dir, &p.manifest))
        .unwrap_or_default();
    let replacing = package.as_ref().and_then(|p| {
        let theirs = bundled.connectors.get(&p.manifest.id)?;
        let id_dir = install::connectors_dir(&data_dir).join(&p.manifest.id);
        (!ownership::may_replace_bundled(&id_dir))
            .then(|| CapabilityDiff::between(&p.manifest.capabilities, theirs))
    });
    let approver = format!("{}:{}", who.via, who.actor);
    let installed = match install::install_with(bytes, &data_dir, options, &bundled, &approver)
        .await
    {
        Ok(installed) => installed,
        Err(error @ InstallError::Io { .. }) => return Err(Failure::Internal(error.into())),
        Err(
            ref error @ InstallError::ReplacesBundled {
                ref id, ref diff, ..
            },
        ) => {
            let replacement = Replacement::of(state, id, (**diff).clone()).await?;
            let message = format!(
                "{}. Compared with the bundled connector, the package: {}. It would receive what {} hold. To replace it, tick “I replace the bundled connector” (in the API, \"replace_bundled\": true) and install again.",
                error.to_string().trim_end_matches(" (--replace-bundled)"),
                replacement.lines.join("; "),
                replacement.impact.sentence()
            );
            return Err(Failure::ReplacesBundled {
                message,
                replacement: Box::new(replacement),
            });
        }
        Err(InstallError::Downgrade {
            id,
            version,
            current,
        }) => {
            return Err(Failure::Refused(format!(
                "{id} {version} is older than the installed {current}. Nothing was changed. Installing an older version can bring back what a newer one fixed; if you mean it, use Roll back on the Installed page, or tick “I install an older version” (in the API, \"allow_downgrade\": true) and install again."
            )));
        }
        Err(InstallError::NewCapabilities {
            id,
            version,
            current,
            added,
        }) => {
            let message = format!(
                "{id} {version} asks for more than the installed {current}: {}. Nothing was changed. If you accept that, tick “I approve these new capabilities” (in the API, \"approve_capabilities\": true) and install it again. Integrations keep their grants: each one reaches something new only once you grant it there.",
                added.join("; ")
            );
            return Err(Failure::NewCapabilities {
                message,
                current,
                added,
            });
        }
        Err(error) => {
            let mut message = error.to_string();
            if !options.allow_untrusted
                && matches!(
                    error,
                    InstallError::Verify(
                        crate::marketplace::verify::VerifyError::Unsigned
                            | crate::marketplace::verify::VerifyError::Untrusted { .. }
                    )
                )
            {
                message.push_str(
                    ". In the admin UI, tick “I accept a package whose publisher I have not trusted” (in the API, \"accept_untrusted\": true) to install it anyway, or trust the publisher's key on the Trusted publishers page first.",
                );
            }
            return Err(Failure::Refused(message));
        }
    };
    let record = installed.record;
    if let Some(diff) = &replacing {
        let impact = Impact::of(&state.store, &record.id)
            .await
            .map_err(|e| Failure::Internal(e.into()))?;
        ownership::audit_replacement(
            &state.store,
            who.actor,
            Some(&who.address()),
            &record,
            diff,
            &impact,
        )
        .await
        .map_err(|e| Failure::Internal(e.into()))?;
    }
    let action = if record.trusted {
        "marketplace.install"
    } else {
        "marketplace.install.untrusted"
    };
    let previous = previous.filter(|p| *p != record.version);
    let approved = capabilities::added_sentences(&added);
    let mut after = json!({
        "version": record.version,
        "publisher": record.publisher,
        "trusted": record.trusted,
        "key_id": record.key_id,
        "sha256": record.sha256,
        "already_installed": installed.already,
        "via": who.via,
        "source": source,
    });
    if let Some(previous) = &previous {
        after["previous_version"] = json!(previous);
    }
    if !approved.is_empty() {
        after["approved_capabilities"] = json!(added);
        after["approved_in_words"] = json!(approved);
    }
    state
        .store
        .audit(AuditEvent {
            actor: who.actor,
            action,
            target: &format!("connector:{}", record.id),
            before: previous.as_ref().map(|p| json!({ "version": p })),
            after: Some(after),
            remote: Some(&who.address()),
        })
        .await
        .map_err(|e| Failure::Internal(e.into()))?;
    let load_error = state
        .catalog
        .load_installed(&state.runtime, installed.dir.join(COMPONENT))
        .await
        .err();
    Ok(Done {
        record,
        already: installed.already,
        previous,
        approved,
        load_error,
    })
}
