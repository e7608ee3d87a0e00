//! Connector packages: building, signing, publishing, installing, upgrading and refusing them, from the `cube` binary, the admin UI and the API.
//!
//! One test binary per suite (decision 0034): a change in the host relinks
//! ten binaries, not one per file. Each module is one feature's tests.

mod api_lifecycle;
mod authoring;
mod lifecycle;
mod ownership;
mod packages;
mod pages;
mod pages_lifecycle;
mod publishers;
mod refusals;
mod remote;
