//! The CUBE integration host.
//!
//! - [`runtime`]: the sandbox that runs connector components.
//! - [`plugin`]: connector files: building and inspecting them.
//! - [`web`]: the HTTP server.
//! - [`cli`]: the `cube` command.

pub mod cli;
pub mod plugin;
pub mod runtime;
pub mod web;
