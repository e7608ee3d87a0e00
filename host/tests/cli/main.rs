//! The `cube` binary as an operator uses it: commands, one-off syncs, key rotation.
//!
//! One test binary per suite (decision 0034): a change in the host relinks
//! ten binaries, not one per file. Each module is one feature's tests.

mod commands;
mod keys_rotate;
mod sync;
mod token;
