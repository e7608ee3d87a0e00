//! The one place where capabilities are linked into the runtime.

use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};

use super::bindings::cube::connector::types;

use super::call::CallState;
use super::capabilities::{http, ldap, log, state};

/// A linker with every capability a connector may import.
pub(crate) fn build(engine: &Engine) -> wasmtime::Result<Linker<CallState>> {
    let mut linker = Linker::new(engine);
    http::add_to_linker(&mut linker, |s: &mut CallState| &mut s.http)?;
    ldap::add_to_linker(&mut linker, |s: &mut CallState| &mut s.ldap)?;
    log::add_to_linker(&mut linker, |s: &mut CallState| &mut s.log)?;
    state::add_to_linker(&mut linker, |s: &mut CallState| &mut s.state)?;
    // Type-only interface: defines nothing but must exist for instantiation.
    types::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)?;
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    Ok(linker)
}

impl types::Host for CallState {}
