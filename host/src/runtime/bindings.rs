//! Rust bindings of the connector world (`wit/`), generated at build time.
//!
//! Every host import is async: HTTP and LDAP wait on the network, and a
//! uniform signature keeps the capability modules alike.

wasmtime::component::bindgen!({
    world: "connector",
    path: "../wit",
    imports: { default: async },
    exports: { default: async },
    with: {
        "cube:connector/ldap.connection": crate::runtime::capabilities::ldap::LdapConnection,
    },
});

pub use cube::connector::types;
