//! Rust bindings of the connector world (`wit/`), generated at build time.
//!
//! Every host import is async: HTTP and LDAP wait on the network, state on
//! the database, and a uniform signature keeps the capability modules alike.
//! `state` may also trap: when the database fails, the call fails, rather
//! than letting a connector believe a key is missing.

wasmtime::component::bindgen!({
    world: "connector",
    path: "../wit",
    imports: {
        "cube:connector/state": async | trappable,
        default: async,
    },
    exports: { default: async },
    with: {
        "cube:connector/ldap.connection": crate::runtime::capabilities::ldap::LdapConnection,
    },
});

pub use cube::connector::types;
