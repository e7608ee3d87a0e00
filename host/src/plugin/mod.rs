//! Connector components as files: starting a crate from a template,
//! building it, inspecting what a `.wasm` file is without running it, and
//! putting it through the host's paces before it is published.

pub mod build;
pub mod inspect;
pub mod scaffold;
pub mod toolchain;
pub mod trial;
