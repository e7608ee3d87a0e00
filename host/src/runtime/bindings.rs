//! Rust bindings of the connector world (`wit/`), generated at build time.
//!
//! Every host import is async: HTTP and LDAP wait on the network, state on
//! the database, and a uniform signature keeps the capability modules alike.
//! `state` may also trap: when the database fails, the call fails, rather
//! than letting a connector believe a key is missing.
//!
//! Nothing here names a capability's types: capabilities depend on the
//! bindings, never the reverse. A resource (the ldap `connection`) is the
//! generated handle type; its capability keeps what the handle stands for
//! in its own table, under the handle's rep.

wasmtime::component::bindgen!({
    world: "connector",
    path: "../wit",
    imports: {
        "cube:connector/state": async | trappable,
        default: async,
    },
    exports: { default: async },
});

pub use cube::connector::types;
