//! The sandbox: what a connector may reach through its capabilities, the limits it runs under, and the files refused as connectors.
//!
//! One test binary per suite (decision 0034): a change in the host relinks
//! ten binaries, not one per file. Each module is one feature's tests.

mod http_grants;
mod ldap;
mod ldap_connection_thread;
mod limits;
mod python_component;
mod rejection;
mod secret_scrubbing;
