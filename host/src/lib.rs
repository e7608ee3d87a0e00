//! The CUBE integration host.
//!
//! - [`runtime`]: the sandbox that runs connector components.

pub mod runtime;
