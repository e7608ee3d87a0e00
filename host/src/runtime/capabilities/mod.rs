//! What the host gives connectors: one module per capability.
//!
//! Each module owns one capability end to end: its configuration or grant
//! type, its per-call state, and the implementation of its WIT interface.
//! They are linked in one place, [`crate::runtime::linker`], and nowhere else.

pub mod denials;
pub mod http;
pub mod ldap;
pub mod log;
pub mod state;
pub mod wasi;
