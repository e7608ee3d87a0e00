//! Reading a store's audit log in tests: the recent entries of one action,
//! newest first.

use cube_host::store::Store;
use cube_host::store::audit::AuditEntry;

/// The audit entries (among the last 200) whose action is `action`, newest
/// first.
pub async fn audited(store: &Store, action: &str) -> Vec<AuditEntry> {
    store
        .audit_entries(200)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == action)
        .collect()
}
