//! The `state` capability: a small key-value store per integration.
//!
//! Connectors keep what must outlive a call here (cached tokens, high-water
//! marks). Each integration sees only its own keys. The store behind it is a
//! [`StateStore`]; [`MemoryStateStore`] keeps values for the life of the
//! process, and the database-backed store replaces it when persistence lands.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use wasmtime::component::HasData;

use crate::runtime::bindings::cube::connector::state as wit;

/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 256;
/// Largest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 64 << 10;
/// Most bytes (keys and values) one integration may keep.
pub const MAX_INTEGRATION_BYTES: usize = 4 << 20;

/// Where integrations' state lives.
pub trait StateStore: Send + Sync {
    fn get(&self, integration: &str, key: &str) -> Option<Vec<u8>>;
    fn set(&self, integration: &str, key: &str, value: Vec<u8>) -> Result<(), String>;
    fn delete(&self, integration: &str, key: &str);
    fn list_keys(&self, integration: &str, prefix: &str) -> Vec<String>;
}

/// State kept in memory, lost when the process ends.
#[derive(Default)]
pub struct MemoryStateStore {
    integrations: Mutex<BTreeMap<String, BTreeMap<String, Vec<u8>>>>,
}

impl StateStore for MemoryStateStore {
    fn get(&self, integration: &str, key: &str) -> Option<Vec<u8>> {
        let all = self.integrations.lock().expect("state poisoned");
        all.get(integration)?.get(key).cloned()
    }

    fn set(&self, integration: &str, key: &str, value: Vec<u8>) -> Result<(), String> {
        check_sizes(key, &value)?;
        let mut all = self.integrations.lock().expect("state poisoned");
        let entries = all.entry(integration.to_owned()).or_default();
        let used: usize = entries
            .iter()
            .filter(|(k, _)| k.as_str() != key)
            .map(|(k, v)| k.len() + v.len())
            .sum();
        if used + key.len() + value.len() > MAX_INTEGRATION_BYTES {
            return Err(format!(
                "the integration's state is full ({MAX_INTEGRATION_BYTES} bytes); delete keys it no longer needs"
            ));
        }
        entries.insert(key.to_owned(), value);
        Ok(())
    }

    fn delete(&self, integration: &str, key: &str) {
        let mut all = self.integrations.lock().expect("state poisoned");
        if let Some(entries) = all.get_mut(integration) {
            entries.remove(key);
        }
    }

    fn list_keys(&self, integration: &str, prefix: &str) -> Vec<String> {
        let all = self.integrations.lock().expect("state poisoned");
        all.get(integration)
            .map(|entries| {
                entries
                    .range(prefix.to_owned()..)
                    .take_while(|(k, _)| k.starts_with(prefix))
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
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

/// Links `cube:connector/state` for stores whose data is `T`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    get: fn(&mut T) -> &mut StateCall,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, StateData>(linker, get)
}

struct StateData;
impl HasData for StateData {
    type Data<'a> = &'a mut StateCall;
}

impl wit::Host for StateCall {
    async fn get(&mut self, key: String) -> Option<Vec<u8>> {
        self.store.get(&self.integration, &key)
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), String> {
        self.store.set(&self.integration, &key, value)
    }

    async fn delete(&mut self, key: String) {
        self.store.delete(&self.integration, &key)
    }

    async fn list_keys(&mut self, prefix: String) -> Vec<String> {
        self.store.list_keys(&self.integration, &prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrations_see_only_their_own_keys() {
        let store = MemoryStateStore::default();
        store.set("a", "token", b"one".to_vec()).unwrap();
        store.set("a", "tomato", b"two".to_vec()).unwrap();
        store.set("b", "token", b"three".to_vec()).unwrap();
        assert_eq!(store.get("a", "token").unwrap(), b"one");
        assert_eq!(store.get("b", "token").unwrap(), b"three");
        assert_eq!(store.list_keys("a", "to"), ["token", "tomato"]);
        assert_eq!(store.list_keys("a", "tok"), ["token"]);
        store.delete("a", "token");
        assert!(store.get("a", "token").is_none());
        assert!(store.get("b", "token").is_some());
    }

    #[test]
    fn oversized_keys_values_and_totals_are_refused() {
        let store = MemoryStateStore::default();
        assert!(store.set("a", "", vec![]).is_err());
        assert!(store.set("a", &"k".repeat(300), vec![]).is_err());
        assert!(store.set("a", "k", vec![0; MAX_VALUE_BYTES + 1]).is_err());
        for i in 0..(MAX_INTEGRATION_BYTES / MAX_VALUE_BYTES) - 1 {
            store
                .set("a", &format!("k{i}"), vec![0; MAX_VALUE_BYTES])
                .unwrap();
        }
        let err = store
            .set("a", "last", vec![0; MAX_VALUE_BYTES])
            .unwrap_err();
        assert!(err.contains("full"), "{err}");
        // Overwriting an existing key does not count it twice.
        store.set("a", "k0", vec![1; MAX_VALUE_BYTES]).unwrap();
    }
}
