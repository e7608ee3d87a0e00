//! Opening a connection to a granted directory server.
//!
//! The host resolves the server's name itself and checks every address
//! before connecting (ldap3 is then handed the connected socket), so a name
//! that resolves somewhere unexpected cannot take a connector there.
//! Directory servers live on private networks, so an exact-host grant
//! reaches private addresses; the loopback interface only when the grant
//! names it (`127.0.0.1`, `::1`, `localhost`); link-local and cloud
//! metadata addresses never.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ldap3::{Ldap, LdapConnSettings, StdStream};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::runtime::Handle;

use super::worker;
use crate::net::address::{AddressClass, classify};
use crate::runtime::bindings::cube::connector::ldap::{LdapError, TlsMode};

/// Where to connect, already checked against the grants.
pub struct Target {
    pub scheme: String,
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub ca_pem: Option<String>,
    pub timeout: Duration,
}

impl Target {
    pub fn name(&self) -> String {
        format!("{}://{}:{}", self.scheme, self.host, self.port)
    }

    fn names_loopback(&self) -> bool {
        self.host.eq_ignore_ascii_case("localhost")
            || self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

/// Whether a directory connection for `target` may go to `ip`.
fn reachable(target: &Target, ip: IpAddr) -> Result<(), AddressClass> {
    match classify(ip) {
        AddressClass::Public | AddressClass::Private | AddressClass::SharedAddressSpace => Ok(()),
        AddressClass::Loopback if target.names_loopback() => Ok(()),
        other => Err(other),
    }
}

/// The system's trusted roots, read once.
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// The TLS configuration: the system's roots plus the integration's CA.
fn tls_config(target: &Target) -> Result<Arc<rustls::ClientConfig>, LdapError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(system_roots().iter().cloned());
    if let Some(pem) = target.ca_pem.as_deref().filter(|p| !p.trim().is_empty()) {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert
                .map_err(|e| LdapError::Tls(format!("the CA certificate is not valid PEM: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| LdapError::Tls(format!("the CA certificate cannot be used: {e}")))?;
            added += 1;
        }
        if added == 0 {
            return Err(LdapError::Tls(
                "the CA certificate field holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
                    .to_owned(),
            ));
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| LdapError::Tls(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The addresses of the target that it may reach.
async fn addresses(target: &Target) -> Result<Vec<SocketAddr>, LdapError> {
    let resolved: Vec<SocketAddr> = match target.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, target.port)],
        Err(_) => tokio::time::timeout(
            target.timeout,
            tokio::net::lookup_host((target.host.as_str(), target.port)),
        )
        .await
        .map_err(|_| {
            LdapError::Connection(format!(
                "{}: the name did not resolve in time",
                target.name()
            ))
        })?
        .map_err(|e| {
            LdapError::Connection(format!("{}: the name does not resolve: {e}", target.name()))
        })?
        .collect(),
    };
    let mut refused = Vec::new();
    let allowed: Vec<SocketAddr> = resolved
        .into_iter()
        .filter(|addr| match reachable(target, addr.ip()) {
            Ok(()) => true,
            Err(class) => {
                refused.push(format!("{} ({class})", addr.ip()));
                false
            }
        })
        .collect();
    if allowed.is_empty() {
        return Err(LdapError::Denied(format!(
            "{} resolves to {}, which directory connections may not reach",
            target.name(),
            refused.join(", ")
        )));
    }
    Ok(allowed)
}

/// An open connection: its handle, and the runtime of the thread it runs
/// on ([`worker`]), where reads that bring many entries belong.
pub struct Connection {
    pub ldap: Ldap,
    pub worker: Handle,
}

/// Connects, upgrades or wraps the connection in TLS as asked, and starts
/// the connection's driver on a thread of its own. Dropping every handle
/// closes it and ends the thread.
pub async fn open(target: &Target) -> Result<Connection, LdapError> {
    match (target.scheme.as_str(), target.tls) {
        ("ldaps", TlsMode::Ldaps) | ("ldap", TlsMode::None | TlsMode::StartTls) => {}
        ("ldaps", _) => {
            return Err(LdapError::Connection(
                "an ldaps:// URL needs the TLS mode `ldaps`".to_owned(),
            ));
        }
        _ => {
            return Err(LdapError::Connection(
                "TLS mode `ldaps` needs an ldaps:// URL; for ldap:// use `start-tls`".to_owned(),
            ));
        }
    }
    let mut last_error = None;
    let mut stream = None;
    for addr in addresses(target).await? {
        match tokio::time::timeout(target.timeout, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(connected)) => {
                stream = Some(connected);
                break;
            }
            Ok(Err(e)) => last_error = Some(format!("{addr}: {e}")),
            Err(_) => last_error = Some(format!("{addr}: no answer in time")),
        }
    }
    let Some(stream) = stream else {
        return Err(LdapError::Connection(format!(
            "cannot reach {}: {}",
            target.name(),
            last_error.unwrap_or_default()
        )));
    };
    let stream = stream
        .into_std()
        .map_err(|e| LdapError::Connection(e.to_string()))?;
    let mut settings = LdapConnSettings::new()
        .set_conn_timeout(target.timeout)
        .set_std_stream(StdStream::Tcp(stream));
    if target.tls != TlsMode::None {
        settings = settings
            .set_config(tls_config(target)?)
            .set_starttls(target.tls == TlsMode::StartTls);
    }
    let (ldap, worker) = worker::start(settings, target.name()).await?;
    Ok(Connection { ldap, worker })
}
