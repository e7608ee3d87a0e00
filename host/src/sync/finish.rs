//! The end of a sync, once the connector's last page is committed: a full
//! sync deletes what it did not see, an incremental one what its pages said
//! was deleted, either holding them for approval past the threshold
//! (decision 0033); a dry run says whether it would hold; and memberships
//! and the accounts of directory users follow what is now stored.
//!
//! Everything here can run twice: a job whose node died after its last page
//! was committed is finished by the node that takes it over (the job is
//! marked `read_done` with that page), without reading any page again.

use super::SyncDeps;
use super::failure::Failure;
use crate::store::deletions::FullSyncEnd;
use crate::store::integrations::Integration;
use crate::store::jobs::Job;
use crate::store::sync_logs::RecordCounts;

/// Deletions a sync held back (or a dry run found a sync would hold): how
/// many, and how many its threshold allowed.
#[derive(Clone, Copy, Debug)]
pub(super) struct Held {
    pub(super) count: i64,
    pub(super) allowed: i64,
}

/// How the pages of an attempt ended.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ended {
    pub(super) pages: u32,
    /// Deletions held for approval.
    pub(super) held: Option<Held>,
    /// A dry run: the deletions a sync would hold.
    pub(super) would_hold: Option<Held>,
}

/// Ends a job whose pages are all committed; `pages` is how many there were.
pub(super) async fn finish(
    deps: &SyncDeps,
    job: &Job,
    integration: &Integration,
    counts: &mut RecordCounts,
    pages: u32,
) -> Result<Ended, Failure> {
    let incremental = job.mode == "incremental";
    let db = Failure::database;
    let mut would_hold = None;
    if job.dry_run {
        let deleting = if incremental {
            counts.deleted
        } else {
            let unseen = deps
                .store
                .finish_full_dry_run(integration.id, job.id)
                .await
                .map_err(db("listing what the dry run would delete"))?;
            counts.deleted += unseen;
            unseen
        };
        let limits = deps
            .store
            .deletion_limits(integration.id)
            .await
            .map_err(db("reading the deletion threshold"))?;
        let base = deps
            .store
            .deletion_base(integration.id)
            .await
            .map_err(db("reading the deletion threshold"))?;
        if limits.exceeded_by(deleting, base) {
            would_hold = Some(Held {
                count: deleting,
                allowed: limits.allowed(base).unwrap_or(0),
            });
        }
    }
    let mut held = None;
    if !job.dry_run {
        // A full sync deletes what it did not see; an incremental one what
        // its pages said was deleted (staged until now). Either holds them
        // all for approval when they are more than the threshold allows.
        let end = if incremental {
            deps.store
                .end_incremental_sync(integration.id, job.id)
                .await
        } else {
            deps.store.end_full_sync(integration.id, job.id).await
        }
        .map_err(|e| {
            tracing::error!(error = %e, "cannot delete records no longer present");
            Failure {
                message: "Deleting records no longer present failed (database error).".into(),
                retry: Some(None),
            }
        })?;
        match end {
            FullSyncEnd::Deleted(n) => counts.deleted += n,
            FullSyncEnd::Held { count, allowed } => {
                tracing::warn!(
                    integration = integration.id,
                    job = job.id,
                    mode = %job.mode,
                    count,
                    allowed,
                    "a sync held its deletions for approval"
                );
                held = Some(Held { count, allowed });
            }
        }
    }
    if !job.dry_run {
        // Memberships follow what the groups state, resolved against
        // the users and groups now stored (cheap when there are none).
        deps.store
            .rebuild_memberships(integration.id)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot rebuild directory memberships");
                Failure {
                    message: "Rebuilding group memberships failed (database error).".into(),
                    retry: Some(None),
                }
            })?;
        // People signed in through this directory get what the
        // directory now says: a disabled or removed user's
        // sessions end, a changed group changes the role.
        deps.store
            .reconcile_directory_accounts(integration.id, "system")
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot reconcile directory accounts");
                Failure {
                    message: "Updating the accounts of directory users failed (database error)."
                        .into(),
                    retry: Some(None),
                }
            })?;
    }
    Ok(Ended {
        pages,
        held,
        would_hold,
    })
}
