//! A small key-value store that belongs to the integration and survives
//! between calls (keys up to 256 bytes, values up to 64 KiB).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::sys;

/// Reads raw bytes.
pub fn get(key: &str) -> Option<Vec<u8>> {
    sys::state_get(key)
}

/// Writes raw bytes.
pub fn set(key: &str, value: &[u8]) -> Result<()> {
    sys::state_set(key, value).map_err(Error::Fatal)
}

/// Removes a key.
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

/// Writes a value as JSON.
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
