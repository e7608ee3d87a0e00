//! The `state` capability: a small key-value store per integration.
//!
//! Connectors keep what must outlive a call here (cached tokens, high-water
//! marks). Each integration sees only its own keys. The storage behind it
//! is a [`StateStore`]: [`crate::store::state::DbStateStore`] in the server,
//! [`MemoryStateStore`] for local runs and tests. When the storage fails,
//! the call fails (a trap with a clear message) instead of answering "no
//! such key", which could make a connector redo or skip work.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use wasmtime::component::HasData;

use super::{CallSetup, Capability};
use crate::runtime::bindings::cube::connector::state as wit;

/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 256;
/// Largest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 64 << 10;
/// Most bytes (keys and values) one integration may keep.
pub const MAX_INTEGRATION_BYTES: usize = 4 << 20;

/// A boxed future, as the storage trait returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a state operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The request breaks a limit; the connector is told why.
    #[error("{0}")]
    Refused(String),
    /// The storage failed; the call fails.
    #[error("{0}")]
    Unavailable(String),
}

/// Where integrations' state lives.
pub trait StateStore: Send + Sync {
    fn get<'a>(
        &'a self,
        integration: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StateError>>;
    fn set<'a>(
        &'a self,
        integration: &'a str,
        key: &'a str,
        value: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), StateError>>;
    fn delete<'a>(
        &'a self,
        integration: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(), StateError>>;
    fn list_keys<'a>(
        &'a self,
        integration: &'a str,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, StateError>>;
}

/// State kept in memory, lost when the process ends.
#[derive(Default)]
pub struct MemoryStateStore {
    integrations: Mutex<BTreeMap<String, BTreeMap<String, Vec<u8>>>>,
}

impl MemoryStateStore {
    fn set_now(&self, integration: &str, key: &str, value: Vec<u8>) -> Result<(), StateError> {
        check_sizes(key, &value).map_err(StateError::Refused)?;
        let mut all = self.integrations.lock().expect("state poisoned");
        let entries = all.entry(integration.to_owned()).or_default();
        let used: usize = entries
            .iter()
            .filter(|(k, _)| k.as_str() != key)
            .map(|(k, v)| k.len() + v.len())
            .sum();
        check_quota(used, key, &value)?;
        entries.insert(key.to_owned(), value);
        Ok(())
    }
}

impl StateStore for MemoryStateStore {
    fn get<'a>(
        &'a self,
        integration: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StateError>> {
        let all = self.integrations.lock().expect("state poisoned");
        let value = all.get(integration).and_then(|e| e.get(key)).cloned();
        Box::pin(std::future::ready(Ok(value)))
    }

    fn set<'a>(
        &'a self,
        integration: &'a str,
        key: &'a str,
        value: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), StateError>> {
        Box::pin(std::future::ready(self.set_now(integration, key, value)))
    }

    fn delete<'a>(
        &'a self,
        integration: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(), StateError>> {
        let mut all = self.integrations.lock().expect("state poisoned");
        if let Some(entries) = all.get_mut(integration) {
            entries.remove(key);
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn list_keys<'a>(
        &'a self,
        integration: &'a str,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, StateError>> {
        let all = self.integrations.lock().expect("state poisoned");
        let keys = all
            .get(integration)
            .map(|entries| {
                entries
                    .range(prefix.to_owned()..)
                    .take_while(|(k, _)| k.starts_with(prefix))
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default();
        Box::pin(std::future::ready(Ok(keys)))
    }
}

/// Refuses writing `key` = `value` when it would take the integration's
/// state past its quota, its other keys holding `used_by_others` bytes
/// (keys and values).
pub fn check_quota(used_by_others: usize, key: &str, value: &[u8]) -> Result<(), StateError> {
    if used_by_others.saturating_add(key.len() + value.len()) > MAX_INTEGRATION_BYTES {
        return Err(StateError::Refused(format!(
            "the integration's state is full ({MAX_INTEGRATION_BYTES} bytes); delete keys it no longer needs"
        )));
    }
    Ok(())
}

/// Checks the per-key and per-value limits every store enforces.
pub fn check_sizes(key: &str, value: &[u8]) -> Result<(), String> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(format!("state keys must be 1 to {MAX_KEY_BYTES} bytes"));
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(format!(
            "state values must be at most {MAX_VALUE_BYTES} bytes, this one is {}",
            value.len()
        ));
    }
    Ok(())
}

/// One call's view of its integration's state.
pub struct StateCall {
    store: Arc<dyn StateStore>,
    integration: String,
}

impl StateCall {
    pub fn new(store: Arc<dyn StateStore>, integration: impl Into<String>) -> Self {
        Self {
            store,
            integration: integration.into(),
        }
    }
}

impl Capability for StateCall {
    fn for_call(setup: &CallSetup<'_>) -> Self {
        StateCall::new(
            setup.shared.state_store.clone(),
            setup.ctx.integration.clone(),
        )
    }

    fn add_to_linker<T: Send + 'static>(
        linker: &mut wasmtime::component::Linker<T>,
        get: fn(&mut T) -> &mut Self,
    ) -> wasmtime::Result<()> {
        wit::add_to_linker::<T, StateData>(linker, get)
    }
}

struct StateData;
impl HasData for StateData {
    type Data<'a> = &'a mut StateCall;
}

/// A storage failure, raised as a trap so the call fails visibly.
fn trap(error: StateError) -> wasmtime::Error {
    wasmtime::Error::msg(format!("connector state: {error}"))
}

impl wit::Host for StateCall {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        self.store.get(&self.integration, &key).await.map_err(trap)
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), String>> {
        match self.store.set(&self.integration, &key, value).await {
            Ok(()) => Ok(Ok(())),
            Err(StateError::Refused(reason)) => Ok(Err(reason)),
            Err(error) => Err(trap(error)),
        }
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<()> {
        self.store
            .delete(&self.integration, &key)
            .await
            .map_err(trap)
    }

    async fn list_keys(&mut self, prefix: String) -> wasmtime::Result<Vec<String>> {
        self.store
            .list_keys(&self.integration, &prefix)
            .await
            .map_err(trap)
    }
}

/// Behaviour every [`StateStore`] must have; run against each implementation.
#[doc(hidden)]
pub mod conformance {
    use super::*;

    pub async fn isolates_integrations_and_lists_by_prefix(store: &dyn StateStore) {
        store.set("a", "token", b"one".to_vec()).await.unwrap();
        store.set("a", "tomato", b"two".to_vec()).await.unwrap();
        store.set("a", "tp", b"x".to_vec()).await.unwrap();
        store.set("b", "token", b"three".to_vec()).await.unwrap();
        assert_eq!(store.get("a", "token").await.unwrap().unwrap(), b"one");
        assert_eq!(store.get("b", "token").await.unwrap().unwrap(), b"three");
        assert_eq!(
            store.list_keys("a", "to").await.unwrap(),
            ["token", "tomato"]
        );
        assert_eq!(store.list_keys("a", "tok").await.unwrap(), ["token"]);
        assert_eq!(
            store.list_keys("a", "").await.unwrap(),
            ["token", "tomato", "tp"]
        );
        store.set("a", "token", b"uno".to_vec()).await.unwrap();
        assert_eq!(store.get("a", "token").await.unwrap().unwrap(), b"uno");
        store.delete("a", "token").await.unwrap();
        assert!(store.get("a", "token").await.unwrap().is_none());
        assert!(store.get("b", "token").await.unwrap().is_some());
        store.delete("a", "never-there").await.unwrap();
    }

    pub async fn refuses_oversized_keys_values_and_totals(store: &dyn StateStore) {
        let refused = |r: Result<(), StateError>| matches!(r, Err(StateError::Refused(_)));
        assert!(refused(store.set("q", "", vec![]).await));
        assert!(refused(store.set("q", &"k".repeat(300), vec![]).await));
        assert!(refused(
            store.set("q", "k", vec![0; MAX_VALUE_BYTES + 1]).await
        ));
        for i in 0..(MAX_INTEGRATION_BYTES / MAX_VALUE_BYTES) - 1 {
            store
                .set("q", &format!("k{i}"), vec![0; MAX_VALUE_BYTES])
                .await
                .unwrap();
        }
        match store.set("q", "last", vec![0; MAX_VALUE_BYTES]).await {
            Err(StateError::Refused(reason)) => assert!(reason.contains("full"), "{reason}"),
            other => panic!("expected the quota to refuse, got {other:?}"),
        }
        // Overwriting an existing key does not count it twice.
        store
            .set("q", "k0", vec![1; MAX_VALUE_BYTES])
            .await
            .unwrap();
        // Another integration has its own quota.
        store.set("r", "k", vec![0; MAX_VALUE_BYTES]).await.unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_store_isolates_integrations() {
        conformance::isolates_integrations_and_lists_by_prefix(&MemoryStateStore::default()).await;
    }

    #[tokio::test]
    async fn memory_store_enforces_limits() {
        conformance::refuses_oversized_keys_values_and_totals(&MemoryStateStore::default()).await;
    }
}
