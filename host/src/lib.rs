//! The CUBE integration host.
//!
//! - [`runtime`]: the sandbox that runs connector components.
//! - [`plugin`]: connector files: building and inspecting them.
//! - [`marketplace`]: signed connector packages, registries and installs.
//! - [`net`]: the address policy every outbound HTTP client keeps to.
//! - [`secrets`]: credentials encrypted at rest.
//! - [`store`]: the database (SQLite or PostgreSQL).
//! - [`web`]: the HTTP server.
//! - [`shared`]: helpers every room may use (constant-time compare, ids).
//! - [`cli`]: the `cube` command.
//!
//! How the rooms depend on each other: `docs/architecture.md`.

pub mod catalog;
pub mod cli;
pub mod integrations;
pub mod marketplace;
pub mod metrics;
pub mod net;
pub mod plugin;
pub mod runtime;
pub mod schedule;
pub mod secrets;
pub mod shared;
pub mod store;
pub mod sync;
pub mod web;
pub mod webhooks;
pub mod worker;
