//! What the host gives connectors: one module per capability.
//!
//! Each module owns one capability end to end: its configuration or grant
//! type, its per-call state, and the implementation of its WIT interface,
//! behind one small trait, [`Capability`]: how its state for one call is
//! made, and how it is linked. [`capabilities!`] below is the one list of
//! them; `linker.rs` links the list, `call.rs` keeps one [`Capabilities`]
//! per call. Adding a capability is a module here and a line in the list
//! (and its interface in `wit/host.wit`).

pub mod context;
pub mod denials;
pub mod http;
pub mod ldap;
pub mod log;
pub mod state;
pub mod wasi;

use std::time::Instant;

use wasmtime::component::Linker;

pub use context::CallContext;

use super::RuntimeShared;

/// What a capability's state for one call is made from.
pub(crate) struct CallSetup<'a> {
    pub shared: &'a RuntimeShared,
    pub ctx: &'a CallContext,
    /// When the call must end.
    pub deadline: Instant,
}

/// One capability's side of a call.
pub(crate) trait Capability: Send + Sized + 'static {
    /// Its state for one call: what the call's context grants it.
    fn for_call(setup: &CallSetup<'_>) -> Self;

    /// Links its WIT interface into `linker`; `get` finds its state in the
    /// store's data.
    fn add_to_linker<T: Send + 'static>(
        linker: &mut Linker<T>,
        get: fn(&mut T) -> &mut Self,
    ) -> wasmtime::Result<()>;
}

/// Store data that holds a call's [`Capabilities`].
pub(crate) trait HasCapabilities: Send + 'static {
    fn capabilities(&mut self) -> &mut Capabilities;
}

/// Declares [`Capabilities`], one field per capability, with how all of
/// them are made for a call and linked.
macro_rules! capabilities {
    ($($(#[$doc:meta])* $field:ident: $state:ty,)*) => {
        /// Every capability's state for one call.
        pub(crate) struct Capabilities {
            $($(#[$doc])* pub(crate) $field: $state,)*
        }

        impl Capabilities {
            pub(crate) fn for_call(setup: &CallSetup<'_>) -> Self {
                Self {
                    $($field: <$state as Capability>::for_call(setup),)*
                }
            }

            /// Links every capability of the list.
            pub(crate) fn add_to_linker<T: HasCapabilities>(
                linker: &mut Linker<T>,
            ) -> wasmtime::Result<()> {
                $(<$state as Capability>::add_to_linker(linker, |data: &mut T| {
                    &mut data.capabilities().$field
                })?;)*
                Ok(())
            }
        }
    };
}

// The list.
capabilities! {
    /// `cube:connector/log`: the call's log, scrubbed and capped.
    log: log::CallLog,
    /// `cube:connector/state`: the integration's key-value state.
    state: state::StateCall,
    /// `cube:connector/http`: requests inside the integration's grants.
    http: http::HttpCall,
    /// `cube:connector/ldap`: directory connections inside its grants.
    ldap: ldap::LdapCall,
}
