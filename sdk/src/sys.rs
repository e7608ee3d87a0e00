//! The host's imports, or their test doubles when compiled natively.

pub use crate::bindings::cube::connector::http::{HttpError, Request, Response};
pub(crate) use crate::bindings::cube::connector::ldap::{
    ConnectOptions, LdapError, SearchPage, SearchRequest,
};
pub(crate) use crate::bindings::cube::connector::log::Level;

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::*;
    use crate::bindings::cube::connector::{http, ldap, log, state};

    pub(crate) type LdapConnection = ldap::Connection;

    pub(crate) fn ldap_open(options: &ConnectOptions) -> Result<LdapConnection, LdapError> {
        ldap::Connection::open(options)
    }

    pub(crate) fn ldap_bind(
        connection: &LdapConnection,
        dn: &str,
        password: &str,
    ) -> Result<(), LdapError> {
        connection.bind(dn, password)
    }

    pub(crate) fn ldap_search(
        connection: &LdapConnection,
        request: &SearchRequest,
    ) -> Result<SearchPage, LdapError> {
        connection.search(request)
    }

    pub(crate) fn http_send(request: &Request) -> Result<Response, HttpError> {
        http::send(request)
    }

    pub(crate) fn log_write(level: Level, message: &str) {
        log::write(level, message)
    }

    pub(crate) fn state_get(key: &str) -> Option<Vec<u8>> {
        state::get(key)
    }

    pub(crate) fn state_set(key: &str, value: &[u8]) -> Result<(), String> {
        state::set(key, value)
    }

    pub(crate) fn state_delete(key: &str) {
        state::delete(key)
    }

    pub(crate) fn state_list_keys(prefix: &str) -> Vec<String> {
        state::list_keys(prefix)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::*;
    use crate::testing::with_host;

    /// Natively, a connection is only the options it was opened with.
    pub(crate) struct LdapConnection;

    pub(crate) fn ldap_open(_options: &ConnectOptions) -> Result<LdapConnection, LdapError> {
        Ok(LdapConnection)
    }

    pub(crate) fn ldap_bind(
        _connection: &LdapConnection,
        dn: &str,
        password: &str,
    ) -> Result<(), LdapError> {
        with_host(|host| host.ldap_bind(dn, password))
    }

    pub(crate) fn ldap_search(
        _connection: &LdapConnection,
        request: &SearchRequest,
    ) -> Result<SearchPage, LdapError> {
        with_host(|host| host.ldap_search(request))
    }

    pub(crate) fn http_send(request: &Request) -> Result<Response, HttpError> {
        with_host(|host| host.send(request))
    }

    pub(crate) fn log_write(level: Level, message: &str) {
        with_host(|host| host.log(level, message))
    }

    pub(crate) fn state_get(key: &str) -> Option<Vec<u8>> {
        with_host(|host| host.state.get(key).cloned())
    }

    pub(crate) fn state_set(key: &str, value: &[u8]) -> Result<(), String> {
        with_host(|host| {
            host.state.insert(key.to_owned(), value.to_vec());
            Ok(())
        })
    }

    pub(crate) fn state_delete(key: &str) {
        with_host(|host| {
            host.state.remove(key);
        })
    }

    pub(crate) fn state_list_keys(prefix: &str) -> Vec<String> {
        with_host(|host| {
            host.state
                .keys()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect()
        })
    }
}

pub(crate) use imp::*;
