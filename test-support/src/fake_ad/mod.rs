//! An Active Directory double on the wire, for what Samba does not do:
//! ranged retrieval of attribute values (MS-ADTS 3.1.1.3.1.3.3). Samba
//! returns every value of `member` at once; a Windows domain controller
//! returns at most MaxValRange (1,500) values of an attribute per search,
//! as `member;range=0-1499`, and the client asks for the rest slice by
//! slice (`member;range=1500-*`), each answer naming the slice it holds,
//! the last one ending in `*`.
//!
//! It speaks LDAPv3 over TCP on 127.0.0.1 through a real LDAP codec
//! (`ldap3_proto`, the server side of kanidm's LDAP), and answers what the
//! connector's AD preset sends: a simple bind, the root DSE
//! (`highestCommittedUSN`, `dsServiceName`), the NTDS settings'
//! `invocationId`, base reads of `uSNCreated`, subtree searches with the
//! Simple Paged Results control (cookies are single use: the strictest
//! reading of RFC 2696, and what OpenLDAP does; a client must never count
//! on sending one twice) and filters of
//! equality, presence, substrings, `>=`/`<=` (numbers compare as numbers,
//! for `uSNChanged` windows), and/or/not. `objectCategory=person` matches
//! the category's DN, as AD's shorthand does.
//!
//! A test can make it fail the slices from a given index on: answer them
//! with an error, or drop the connection.

mod filter;
mod ranges;
mod seed;
mod server;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ldap3_proto::proto::LdapResultCode;
use tokio::net::TcpListener;

pub use seed::{directory, user_dn, user_id};

/// Active Directory's default MaxValRange.
pub const MAX_VAL_RANGE: usize = 1500;
pub const BASE: &str = "DC=ranges,DC=test";
pub const BIND_DN: &str = "CN=sync,CN=Users,DC=ranges,DC=test";
pub const PASSWORD: &str = "ranges-test-password";
const NTDS: &str = "CN=NTDS Settings,CN=DC1,CN=Servers,CN=Default-First-Site-Name,CN=Sites,CN=Configuration,DC=ranges,DC=test";
const PERSON: &str = "CN=Person,CN=Schema,CN=Configuration,DC=ranges,DC=test";

/// One entry: its DN and attributes, values as bytes.
#[derive(Clone, Debug)]
pub struct Entry {
    pub dn: String,
    pub attributes: Vec<(String, Vec<Vec<u8>>)>,
}

impl Entry {
    fn values(&self, name: &str) -> Option<&Vec<Vec<u8>>> {
        self.attributes
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

/// How the server fails ranged requests from some index on.
#[derive(Clone, Debug)]
pub enum Fault {
    None,
    /// Requests for a slice starting at `from` or later get `code`.
    Error {
        from: usize,
        code: LdapResultCode,
    },
    /// A request for a slice starting at `from` or later closes the
    /// connection without an answer.
    Drop {
        from: usize,
    },
}

struct State {
    entries: Vec<Entry>,
    fault: Fault,
    /// The ranged attribute requests seen: (DN, attribute description).
    ranged: Vec<(String, String)>,
    /// Paged results still to be continued: cookie → next offset.
    cookies: HashMap<Vec<u8>, usize>,
    next_cookie: u64,
    /// Searches refused for a cookie that was spent or never given.
    refused_cookies: usize,
}

pub struct FakeAd {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl FakeAd {
    pub async fn start(entries: Vec<Entry>) -> FakeAd {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            entries,
            fault: Fault::None,
            ranged: Vec::new(),
            cookies: HashMap::new(),
            next_cookie: 0,
            refused_cookies: 0,
        }));
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(server::serve(socket, shared.clone()));
            }
        });
        FakeAd { port, state }
    }

    pub fn set_fault(&self, fault: Fault) {
        self.state.lock().unwrap().fault = fault;
    }

    /// The ranged requests seen for the entry `dn`, in order.
    pub fn ranged_requests(&self, dn: &str) -> Vec<String> {
        let state = self.state.lock().unwrap();
        state
            .ranged
            .iter()
            .filter(|(d, _)| d.eq_ignore_ascii_case(dn))
            .map(|(_, a)| a.clone())
            .collect()
    }

    /// How many searches came with a cookie that was spent already.
    pub fn refused_cookies(&self) -> usize {
        self.state.lock().unwrap().refused_cookies
    }

    pub fn clear_requests(&self) {
        self.state.lock().unwrap().ranged.clear();
    }
}
