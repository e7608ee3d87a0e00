//! The one place where capabilities are linked into the runtime.

use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};

use super::bindings::cube::connector::types;

use super::call::CallState;
use super::capabilities::Capabilities;

/// A linker with every capability a connector may import.
pub(crate) fn build(engine: &Engine) -> wasmtime::Result<Linker<CallState>> {
    let mut linker = Linker::new(engine);
    Capabilities::add_to_linker(&mut linker)?;
    // Type-only interface: defines nothing but must exist for instantiation.
    types::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)?;
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    Ok(linker)
}

impl types::Host for CallState {}
