//! The store on both backends (embedded SQLite and the tests' PostgreSQL).
//!
//! One test binary per suite (decision 0034): a change in the host relinks
//! ten binaries, not one per file. Each module is one feature's tests.

mod accounts;
mod api_tokens;
mod deletions;
mod directory;
mod directory_changes;
mod dry_runs;
mod integrations;
mod migrations_and_state;
mod outbox_and_intake;
mod schedules;
