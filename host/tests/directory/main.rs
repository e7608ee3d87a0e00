//! The Active Directory / LDAP connector and directory sign-in against the real slapd and the real Samba AD DC.
//!
//! One test binary per suite (decision 0034): a change in the host relinks
//! ten binaries, not one per file. Each module is one feature's tests.

mod connection;
mod deletion_guard;
mod ranges;
mod samba;
mod samba_connection_test;
mod samba_deletions;
mod samba_sign_in;
mod sign_in;
mod sign_in_changes;
mod sign_in_settings;
mod sign_in_store;
mod sync;
