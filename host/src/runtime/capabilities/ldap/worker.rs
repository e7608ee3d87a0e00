//! Each directory connection on a thread of its own.
//!
//! ldap3 splits a connection in two: a driver that reads the socket and
//! decodes every message, and the `Ldap` handle whose searches receive the
//! decoded entries through a channel. On the host's multi-threaded runtime
//! the two land on different workers, so entries reach the search by waking
//! another thread, batch after batch: a 100,000-user sync switched threads
//! about 18,000 times and spent as long waiting for a core as running.
//!
//! So the driver runs on a thread of its own, in a single-threaded runtime,
//! and so does the read-ahead of the next page (`ahead.rs`): entries
//! pass from the driver to the search without waking anything, and only the
//! finished page crosses to the caller. The thread ends with the connection:
//! when every handle is dropped (or unbound) or the server goes away, the
//! driver returns, and tasks still on the thread are cancelled, which their
//! callers see as a lost connection.

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings};
use tokio::runtime::Handle;

use super::errors;
use crate::runtime::bindings::cube::connector::ldap::LdapError;

/// The name of connection threads (as `ps -L` and `/proc/*/task/*/comm`
/// show it).
pub const THREAD_NAME: &str = "cube-ldap";

/// Sets up the connection `settings` describe (its socket already
/// connected) on a new thread, and returns its handle and the runtime of
/// that thread, where work that reads much from the connection belongs.
pub async fn start(
    settings: LdapConnSettings,
    server: String,
) -> Result<(Ldap, Handle), LdapError> {
    let (started, ready) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(THREAD_NAME.to_owned())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = started.send(Err(LdapError::Connection(format!(
                        "cannot start the connection's runtime: {e}"
                    ))));
                    return;
                }
            };
            runtime.block_on(async move {
                // ldap3 registers the socket (and its TLS session) with the
                // runtime that sets it up: this one.
                let (connection, ldap) = match LdapConnAsync::with_settings(settings, &server).await
                {
                    Ok(pair) => pair,
                    Err(e) => {
                        let _ = started.send(Err(errors::from_client(e, &server, "connection")));
                        return;
                    }
                };
                if started.send(Ok((ldap, Handle::current()))).is_err() {
                    return; // The caller gave up (its deadline passed).
                }
                if let Err(error) = connection.drive().await {
                    tracing::debug!(%server, %error, "LDAP connection ended");
                }
            });
        })
        .map_err(|e| LdapError::Connection(format!("cannot start a connection thread: {e}")))?;
    ready.await.unwrap_or_else(|_| {
        Err(LdapError::Connection(
            "the connection's thread ended before the connection was set up".to_owned(),
        ))
    })
}
