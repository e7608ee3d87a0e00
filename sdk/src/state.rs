//! A small key-value store that belongs to the integration and survives
//! between calls (keys up to 256 bytes, values up to 64 KiB).
//!
//! The host runs each call on a fresh instance, so memory is gone when the
//! call ends. What must outlive it goes here: a cached access token, a
//! high-water mark, the ids already seen. Most connectors store values as
//! JSON with [`set_json`] and [`get_json`]. The sync cursor does not belong
//! here: return it in the [`SyncPage`](crate::types::SyncPage), where the
//! host commits it with the page.
//!
//! Natively the store is the [`testing`](crate::testing) host's, in memory
//! and per thread.
//!
//! ```
//! use cube_connector_sdk::state;
//! # cube_connector_sdk::testing::reset();
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Token {
//!     value: String,
//!     expires_at: i64,
//! }
//!
//! state::set_json("token", &Token { value: "abc".into(), expires_at: 1_795_000_000 })?;
//! let cached: Option<Token> = state::get_json("token");
//! assert_eq!(cached.map(|t| t.value).as_deref(), Some("abc"));
//! assert_eq!(state::keys("tok"), ["token"]);
//! # Ok::<(), cube_connector_sdk::Error>(())
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::sys;

/// Reads raw bytes; `None` when the key is missing.
pub fn get(key: &str) -> Option<Vec<u8>> {
    sys::state_get(key)
}

/// Writes raw bytes, replacing any value. Fails (`fatal`) when the key or
/// value is too large or the integration's store is full.
pub fn set(key: &str, value: &[u8]) -> Result<()> {
    sys::state_set(key, value).map_err(Error::Fatal)
}

/// Removes a key; removing a missing key does nothing.
pub fn delete(key: &str) {
    sys::state_delete(key)
}

/// The keys starting with `prefix`, in order.
pub fn keys(prefix: &str) -> Vec<String> {
    sys::state_list_keys(prefix)
}

/// Reads a JSON value; `None` when missing or no longer of type `T`.
pub fn get_json<T: DeserializeOwned>(key: &str) -> Option<T> {
    get(key).and_then(|bytes| serde_json::from_slice(&bytes).ok())
}

/// Writes a value as JSON, failing like [`set`].
pub fn set_json<T: Serialize>(key: &str, value: &T) -> Result<()> {
    set(key, &serde_json::to_vec(value)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    #[test]
    fn json_values_round_trip() {
        testing::reset();
        set_json("cursor", &("2026-11-24", 7)).unwrap();
        assert_eq!(get_json::<(String, u32)>("cursor").unwrap().1, 7);
        assert!(
            get_json::<u32>("cursor").is_none(),
            "wrong type reads as missing"
        );
        assert_eq!(keys("cur"), ["cursor"]);
        delete("cursor");
        assert!(get("cursor").is_none());
    }
}
