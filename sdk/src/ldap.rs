//! Directory access through the host's LDAP client.
//!
//! The host connects only to servers an admin granted to the integration,
//! and keeps a sync job's connections open across its `sync` calls, so a
//! paged search can go on page by page: keep the cookie in your cursor and
//! open the same server again on the next call.
//!
//! ```
//! use cube_connector_sdk::ldap::{self, EntryExt, TlsMode};
//!
//! # fn main() -> cube_connector_sdk::Result<()> {
//! # cube_connector_sdk::testing::on_ldap_search(|_| Ok(ldap::SearchPage {
//! #     entries: vec![ldap::Entry {
//! #         dn: "CN=Ada Lovelace,OU=People,DC=corp,DC=example".into(),
//! #         attributes: vec![ldap::Attribute {
//! #             name: "sAMAccountName".into(),
//! #             values: vec![b"ada".to_vec()],
//! #         }],
//! #     }],
//! #     referrals: vec![],
//! #     cookie: None,
//! # }));
//! let directory = ldap::connect("ldaps://dc1.corp.example", TlsMode::Ldaps).open()?;
//! directory.bind("CN=sync,OU=Service,DC=corp,DC=example", "secret")?;
//! let page = directory
//!     .search("OU=People,DC=corp,DC=example", "(objectClass=user)")
//!     .attributes(&["sAMAccountName", "mail", "objectGUID"])
//!     .page_size(500)
//!     .send()?;
//! let logins: Vec<&str> = page
//!     .entries
//!     .iter()
//!     .filter_map(|entry| entry.first("sAMAccountName"))
//!     .collect();
//! assert_eq!(logins, ["ada"]);
//! # Ok(())
//! # }
//! ```
//!
//! Errors convert with `?` into the [`Error`] case the host's retry rules
//! need: refusals and configuration mistakes are not retried, a server
//! that cannot be reached or is busy is.
//!
//! The types of the contract are re-exported as they are generated. Two of
//! them the WIT leaves undescribed: an [`Entry`] is one result, its `dn`
//! and its `attributes` (read them with [`EntryExt`]), and a [`Scope`] is
//! how deep a search goes ([`Search::scope`]).

use std::time::Duration;

pub use crate::bindings::cube::connector::ldap::{
    Attribute, ConnectOptions, Entry, LdapError, Scope, SearchControl, SearchPage, SearchRequest,
    TlsMode,
};
use crate::error::Error;
use crate::sys;

impl From<LdapError> for Error {
    /// Refusals and configuration mistakes are not retried; a server that
    /// cannot be reached, is busy or unavailable is.
    fn from(error: LdapError) -> Self {
        match error {
            LdapError::Denied(m) => Error::config(m),
            LdapError::Connection(m) => Error::unreachable(m),
            LdapError::Tls(m) => Error::config(m),
            LdapError::InvalidCredentials(m) => Error::auth(m),
            LdapError::NoSuchObject(m) => Error::config(m),
            LdapError::Server((code @ (3 | 51 | 52), m)) => {
                Error::transient(format!("LDAP result {code}: {m}"))
            }
            LdapError::Server((50, m)) => Error::auth(m),
            // The server wants TLS, signing or another way to bind: a
            // setting to change, not a defect.
            LdapError::Server((code @ (7 | 8 | 13 | 48), m)) => {
                Error::config(format!("LDAP result {code}: {m}"))
            }
            LdapError::Server((code, m)) => Error::fatal(format!("LDAP result {code}: {m}")),
        }
    }
}

/// Starts describing a connection to `url` (`ldap://host[:port]` or
/// `ldaps://host[:port]`), secured as `tls` says: [`TlsMode::Ldaps`] for
/// `ldaps://`, [`TlsMode::StartTls`] to upgrade an `ldap://` connection,
/// [`TlsMode::None`] only for test servers on a trusted network.
pub fn connect(url: impl Into<String>, tls: TlsMode) -> Connect {
    Connect {
        options: ConnectOptions {
            url: url.into(),
            tls,
            ca_pem: None,
            timeout_ms: None,
        },
    }
}

/// A connection about to be opened; start one with [`connect`].
pub struct Connect {
    options: ConnectOptions,
}

impl Connect {
    /// Trusts this CA (PEM) as well as the system's, for servers whose
    /// certificate a private CA signed.
    pub fn ca_pem(mut self, pem: impl Into<String>) -> Self {
        let pem = pem.into();
        self.options.ca_pem = (!pem.trim().is_empty()).then_some(pem);
        self
    }

    /// How long to wait for the server (connecting, and each operation).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout_ms = Some(timeout.as_millis().min(u32::MAX as u128) as u32);
        self
    }

    /// Opens the connection (or, within a sync job, reuses the job's).
    ///
    /// Natively, under [`testing`](crate::testing), it always succeeds;
    /// binds and searches go to the test's handlers.
    pub fn open(self) -> Result<Directory, LdapError> {
        Ok(Directory {
            connection: sys::ldap_open(&self.options)?,
        })
    }
}

/// An open directory connection; get one from [`Connect::open`].
pub struct Directory {
    connection: sys::LdapConnection,
}

impl Directory {
    /// A simple bind. Binding again as the same account on a job's
    /// connection costs nothing.
    pub fn bind(&self, dn: &str, password: &str) -> Result<(), LdapError> {
        sys::ldap_bind(&self.connection, dn, password)
    }

    /// Starts a subtree search under `base` for `filter` (RFC 4515).
    pub fn search(&self, base: &str, filter: &str) -> Search<'_> {
        Search {
            directory: self,
            request: SearchRequest {
                base: base.to_owned(),
                scope: Scope::Subtree,
                filter: filter.to_owned(),
                attributes: Vec::new(),
                page_size: 0,
                cookie: None,
                size_limit: 0,
                time_limit_seconds: 0,
            },
            controls: Vec::new(),
        }
    }
}

/// A search about to be sent; start one with [`Directory::search`].
///
/// Until you say otherwise it searches the whole subtree, returns all user
/// attributes, and asks for neither paging nor limits.
pub struct Search<'a> {
    directory: &'a Directory,
    request: SearchRequest,
    controls: Vec<SearchControl>,
}

impl Search<'_> {
    /// How deep to search: only the base entry ([`Scope::Base`]), its
    /// children ([`Scope::OneLevel`]), or everything below it
    /// ([`Scope::Subtree`], the default).
    pub fn scope(mut self, scope: Scope) -> Self {
        self.request.scope = scope;
        self
    }

    /// The attributes to return (all user attributes when none are named).
    pub fn attributes(mut self, names: &[&str]) -> Self {
        self.request.attributes = names.iter().map(|n| (*n).to_owned()).collect();
        self
    }

    /// Pages of at most `size` entries (the Simple Paged Results control).
    pub fn page_size(mut self, size: u32) -> Self {
        self.request.page_size = size;
        self
    }

    /// Continues a paged search from the previous page's cookie.
    ///
    /// `None` starts from the first page. A cookie is valid only on the
    /// connection that made it: within one call, or across the calls of a
    /// sync job, whose connection the host keeps open.
    ///
    /// ```
    /// use cube_connector_sdk::ldap::{self, TlsMode};
    /// # use cube_connector_sdk::testing;
    /// # testing::on_ldap_search(|request| {
    /// #     let entry = |dn: &str| ldap::Entry { dn: dn.into(), attributes: vec![] };
    /// #     Ok(match request.cookie.as_deref() {
    /// #         None => ldap::SearchPage {
    /// #             entries: vec![entry("uid=ada,dc=example"), entry("uid=alan,dc=example")],
    /// #             referrals: vec![],
    /// #             cookie: Some(b"page-2".to_vec()),
    /// #         },
    /// #         Some(_) => ldap::SearchPage {
    /// #             entries: vec![entry("uid=grace,dc=example")],
    /// #             referrals: vec![],
    /// #             cookie: None,
    /// #         },
    /// #     })
    /// # });
    ///
    /// let directory = ldap::connect("ldaps://ldap.example.com", TlsMode::Ldaps).open()?;
    /// let mut cookie = None;
    /// let mut dns = Vec::new();
    /// loop {
    ///     let page = directory
    ///         .search("dc=example", "(objectClass=person)")
    ///         .page_size(2)
    ///         .cookie(cookie)
    ///         .send()?;
    ///     dns.extend(page.entries.into_iter().map(|entry| entry.dn));
    ///     match page.cookie {
    ///         Some(next) => cookie = Some(next),
    ///         None => break,
    ///     }
    /// }
    /// assert_eq!(dns.len(), 3);
    /// # Ok::<(), ldap::LdapError>(())
    /// ```
    pub fn cookie(mut self, cookie: Option<Vec<u8>>) -> Self {
        self.request.cookie = cookie;
        self
    }

    /// Asks the server to return at most `entries` entries; 0, the
    /// default, means no limit. To read many entries, page with
    /// [`page_size`](Self::page_size) instead.
    pub fn size_limit(mut self, entries: u32) -> Self {
        self.request.size_limit = entries;
        self
    }

    /// Asks the server to spend at most `seconds` on the search; 0, the
    /// default, means no limit. The call's deadline applies regardless.
    pub fn time_limit(mut self, seconds: u32) -> Self {
        self.request.time_limit_seconds = seconds;
        self
    }

    /// Also returns deleted objects: Active Directory's "show deleted"
    /// control (1.2.840.113556.1.4.417), for a search of the Deleted
    /// Objects container with `(isDeleted=TRUE)`. It is sent critical: a
    /// server without it refuses the search (`LdapError::Server` 12), and
    /// one whose bind account may not list deleted objects answers 50
    /// (insufficientAccessRights) or returns none. Needs a host that offers
    /// `search-packed-with`; searches without it work on every host.
    pub fn show_deleted(mut self) -> Self {
        if !self.controls.contains(&SearchControl::ShowDeleted) {
            self.controls.push(SearchControl::ShowDeleted);
        }
        self
    }

    /// Sends the search and reads one page. The page's `cookie` is `None`
    /// when the search is complete.
    pub fn send(self) -> Result<SearchPage, LdapError> {
        sys::ldap_search(&self.directory.connection, &self.request, &self.controls)
    }
}

/// Reading attributes of an entry.
///
/// Values are raw bytes, since some attributes (`objectGUID`, `objectSid`)
/// are binary; these helpers read the text ones.
///
/// ```
/// use cube_connector_sdk::ldap::{Attribute, Entry, EntryExt};
///
/// let entry = Entry {
///     dn: "uid=ada,dc=example".into(),
///     attributes: vec![Attribute {
///         name: "mail".into(),
///         values: vec![b"ada@example.com".to_vec(), b"countess@example.com".to_vec()],
///     }],
/// };
/// assert_eq!(entry.first("Mail"), Some("ada@example.com"));
/// assert_eq!(entry.texts("mail").len(), 2);
/// assert!(entry.values("objectGUID").is_empty());
/// ```
pub trait EntryExt {
    /// The values of an attribute (names compare case-insensitively); empty
    /// when the entry does not have it.
    fn values(&self, name: &str) -> &[Vec<u8>];
    /// The first value of an attribute, as text; `None` when it is missing
    /// or not UTF-8.
    fn first(&self, name: &str) -> Option<&str> {
        self.values(name)
            .first()
            .and_then(|v| std::str::from_utf8(v).ok())
    }
    /// Every value of an attribute that is text, in order.
    fn texts(&self, name: &str) -> Vec<&str> {
        self.values(name)
            .iter()
            .filter_map(|v| std::str::from_utf8(v).ok())
            .collect()
    }
}

impl EntryExt for Entry {
    fn values(&self, name: &str) -> &[Vec<u8>] {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
            .map_or(&[], |a| a.values.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    #[test]
    fn searches_reach_the_double_and_errors_map_to_retry_rules() {
        testing::reset();
        testing::on_ldap_search(|request| {
            assert_eq!(request.filter, "(uid=*)");
            assert_eq!(request.page_size, 2);
            Ok(SearchPage {
                entries: vec![Entry {
                    dn: "uid=ada,dc=example".into(),
                    attributes: vec![Attribute {
                        name: "mail".into(),
                        values: vec![b"ada@example.com".to_vec()],
                    }],
                }],
                referrals: Vec::new(),
                cookie: None,
            })
        });
        let directory = connect("ldap://127.0.0.1", TlsMode::None).open().unwrap();
        directory.bind("cn=x", "y").unwrap();
        let page = directory
            .search("dc=example", "(uid=*)")
            .page_size(2)
            .send()
            .unwrap();
        assert_eq!(page.entries[0].first("MAIL"), Some("ada@example.com"));
        assert_eq!(page.entries[0].first("cn"), None);
        assert_eq!(testing::ldap_binds(), vec!["cn=x".to_owned()]);

        assert!(Error::from(LdapError::Connection("down".into())).is_retryable());
        assert!(Error::from(LdapError::Server((51, "busy".into()))).is_retryable());
        assert!(!Error::from(LdapError::InvalidCredentials("no".into())).is_retryable());
        assert!(!Error::from(LdapError::Denied("no".into())).is_retryable());
    }
}
