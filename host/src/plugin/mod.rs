//! Connector components as files: building them from Rust crates, and
//! inspecting what a `.wasm` file is without running it.

pub mod build;
pub mod inspect;
pub mod toolchain;
