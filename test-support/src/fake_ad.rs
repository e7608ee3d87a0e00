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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::BytesMut;
use ldap3_proto::LdapCodec;
use ldap3_proto::control::LdapControl;
use ldap3_proto::proto::{
    LdapBindCred, LdapBindResponse, LdapFilter, LdapMsg, LdapOp, LdapPartialAttribute, LdapResult,
    LdapResultCode, LdapSearchRequest, LdapSearchResultEntry, LdapSearchScope,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::{Decoder, Encoder};

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

fn text(name: &str, value: &str) -> (String, Vec<Vec<u8>>) {
    (name.to_owned(), vec![value.as_bytes().to_vec()])
}

/// A GUID's 16 bytes made from a number.
fn guid(n: u64) -> Vec<u8> {
    let mut bytes = vec![0x5a; 8];
    bytes.extend_from_slice(&n.to_be_bytes());
    bytes
}

/// The DN of user `i`.
pub fn user_dn(i: usize) -> String {
    format!("CN=user{i:05},OU=People,{BASE}")
}

/// The canonical objectGUID text of user `i`, as the connector stores it.
pub fn user_id(i: usize) -> String {
    let b = guid(i as u64);
    // objectGUID's first three fields are little-endian.
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{}",
        b[3],
        b[2],
        b[1],
        b[0],
        b[5],
        b[4],
        b[7],
        b[6],
        b[8],
        b[9],
        b[10..]
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>()
    )
}

/// A directory of `users` users and one group per entry of `groups`
/// (name, members: the first N users), then `fillers` groups of one member.
pub fn directory(users: usize, groups: &[(&str, usize)], fillers: usize) -> Vec<Entry> {
    let mut usn = 10_000u64;
    let mut next = || {
        usn += 1;
        usn.to_string()
    };
    let mut entries = Vec::new();
    for dn in [
        BASE.to_owned(),
        format!("OU=People,{BASE}"),
        format!("OU=Groups,{BASE}"),
    ] {
        entries.push(Entry {
            dn,
            attributes: vec![
                text("objectClass", "organizationalUnit"),
                text("uSNCreated", "5000"),
            ],
        });
    }
    for i in 0..users {
        entries.push(Entry {
            dn: user_dn(i),
            attributes: vec![
                (
                    "objectClass".into(),
                    ["top", "person", "organizationalPerson", "user"]
                        .iter()
                        .map(|c| c.as_bytes().to_vec())
                        .collect(),
                ),
                text("objectCategory", PERSON),
                ("objectGUID".into(), vec![guid(i as u64)]),
                text("sAMAccountName", &format!("user{i:05}")),
                text("userAccountControl", "512"),
                text("uSNChanged", &next()),
            ],
        });
    }
    let fill: Vec<(String, usize)> = (0..fillers).map(|i| (format!("filler{i:03}"), 1)).collect();
    let all = groups
        .iter()
        .map(|(name, n)| ((*name).to_owned(), *n))
        .chain(fill);
    for (g, (name, members)) in all.enumerate() {
        entries.push(Entry {
            dn: format!("CN={name},OU=Groups,{BASE}"),
            attributes: vec![
                (
                    "objectClass".into(),
                    vec![b"top".to_vec(), b"group".to_vec()],
                ),
                ("objectGUID".into(), vec![guid(1_000_000 + g as u64)]),
                text("sAMAccountName", &name),
                (
                    "member".into(),
                    (0..members).map(|i| user_dn(i).into_bytes()).collect(),
                ),
                text("uSNChanged", &next()),
            ],
        });
    }
    entries
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
                tokio::spawn(serve(socket, shared.clone()));
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

/// What one request gets: messages to send, or the connection dropped.
enum Answer {
    Send(Vec<LdapMsg>),
    Drop,
}

async fn serve(mut socket: TcpStream, state: Arc<Mutex<State>>) {
    // Requests are small; the codec's default limit is for them.
    let mut codec = LdapCodec::default();
    let mut input = BytesMut::with_capacity(4096);
    loop {
        let message = loop {
            match codec.decode(&mut input) {
                Ok(Some(message)) => break message,
                Ok(None) => {}
                Err(_) => return,
            }
            match socket.read_buf(&mut input).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        };
        let answer = match message.op {
            LdapOp::BindRequest(bind) => {
                let ok = matches!(&bind.cred, LdapBindCred::Simple(pw)
                    if bind.dn.eq_ignore_ascii_case(BIND_DN) && pw == PASSWORD);
                let (code, text) = if ok {
                    (LdapResultCode::Success, "")
                } else {
                    (
                        LdapResultCode::InvalidCredentials,
                        "80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data 52e",
                    )
                };
                Answer::Send(vec![LdapMsg {
                    msgid: message.msgid,
                    op: LdapOp::BindResponse(LdapBindResponse {
                        res: result(code, text),
                        saslcreds: None,
                    }),
                    ctrl: Vec::new(),
                }])
            }
            LdapOp::SearchRequest(search) => {
                let mut state = state.lock().unwrap();
                search_answer(&mut state, message.msgid, &search, &message.ctrl)
            }
            LdapOp::UnbindRequest => return,
            LdapOp::AbandonRequest(_) => continue,
            _ => Answer::Send(vec![LdapMsg {
                msgid: message.msgid,
                op: LdapOp::ExtendedResponse(ldap3_proto::proto::LdapExtendedResponse {
                    res: result(LdapResultCode::UnwillingToPerform, "not supported here"),
                    name: None,
                    value: None,
                }),
                ctrl: Vec::new(),
            }]),
        };
        let Answer::Send(messages) = answer else {
            return;
        };
        let mut out = BytesMut::new();
        for message in messages {
            if codec.encode(message, &mut out).is_err() {
                return;
            }
        }
        if socket.write_all(&out).await.is_err() {
            return;
        }
    }
}

fn result(code: LdapResultCode, message: &str) -> LdapResult {
    LdapResult {
        code,
        matcheddn: String::new(),
        message: message.to_owned(),
        referral: Vec::new(),
    }
}

fn done(msgid: i32, code: LdapResultCode, message: &str, ctrl: Vec<LdapControl>) -> LdapMsg {
    LdapMsg {
        msgid,
        op: LdapOp::SearchResultDone(result(code, message)),
        ctrl,
    }
}

fn root_dse(entries: &[Entry]) -> Entry {
    let highest = entries
        .iter()
        .filter_map(|e| e.values("uSNChanged"))
        .filter_map(|v| std::str::from_utf8(&v[0]).ok()?.parse::<u64>().ok())
        .max()
        .unwrap_or(5000);
    Entry {
        dn: String::new(),
        attributes: vec![
            text("objectClass", "top"),
            text("highestCommittedUSN", &highest.to_string()),
            text("dsServiceName", NTDS),
            text("namingContexts", BASE),
            text("supportedControl", "1.2.840.113556.1.4.319"),
        ],
    }
}

fn ntds() -> Entry {
    Entry {
        dn: NTDS.to_owned(),
        attributes: vec![
            text("objectClass", "nTDSDSA"),
            ("invocationId".into(), vec![vec![0x42; 16]]),
        ],
    }
}

fn in_scope(dn: &str, base: &str, scope: &LdapSearchScope) -> bool {
    let (dn, base) = (dn.to_lowercase(), base.to_lowercase());
    match scope {
        LdapSearchScope::Base => dn == base,
        LdapSearchScope::OneLevel => dn.split_once(',').is_some_and(|(_, parent)| parent == base),
        _ => dn == base || dn.ends_with(&format!(",{base}")),
    }
}

fn search_answer(
    state: &mut State,
    msgid: i32,
    search: &LdapSearchRequest,
    controls: &[LdapControl],
) -> Answer {
    let candidates: Vec<Entry> = if search.base.is_empty() {
        vec![root_dse(&state.entries)]
    } else {
        let mut all = state.entries.clone();
        all.push(ntds());
        if !all.iter().any(|e| e.dn.eq_ignore_ascii_case(&search.base)) {
            return Answer::Send(vec![done(
                msgid,
                LdapResultCode::NoSuchObject,
                "0000208D: NameErr: DSID-03100241, problem 2001 (NO_OBJECT)",
                Vec::new(),
            )]);
        }
        all.into_iter()
            .filter(|e| in_scope(&e.dn, &search.base, &search.scope))
            .collect()
    };
    let matched: Vec<&Entry> = candidates
        .iter()
        .filter(|e| matches(e, &search.filter))
        .collect();
    let paged = controls.iter().find_map(|c| match c {
        LdapControl::SimplePagedResults { size, cookie } => Some((*size, cookie.clone())),
        _ => None,
    });
    let (start, end, next) = match paged {
        Some((size, cookie)) => {
            let start = if cookie.is_empty() {
                0
            } else {
                match state.cookies.remove(&cookie) {
                    Some(offset) => offset,
                    None => {
                        state.refused_cookies += 1;
                        return Answer::Send(vec![done(
                            msgid,
                            LdapResultCode::UnwillingToPerform,
                            "00002024: SvcErr: DSID-02091D9E, problem 5003 (WILL_NOT_PERFORM), \
                             the paged results cookie is not valid",
                            Vec::new(),
                        )]);
                    }
                }
            };
            let end = (start + size.max(1) as usize).min(matched.len());
            let next = if end < matched.len() {
                state.next_cookie += 1;
                let cookie = state.next_cookie.to_be_bytes().to_vec();
                state.cookies.insert(cookie.clone(), end);
                cookie
            } else {
                Vec::new()
            };
            (start, end, Some(next))
        }
        None => (0, matched.len(), None),
    };
    let mut messages = Vec::new();
    for entry in &matched[start..end] {
        let mut attributes = Vec::new();
        for (name, values) in selected(entry, &search.attrs) {
            match slice(&name, values) {
                Ok(Some(attribute)) => attributes.push(attribute),
                Ok(None) => {}
                Err(()) => {
                    return Answer::Send(vec![done(
                        msgid,
                        LdapResultCode::OperationsError,
                        "00000000: LdapErr: DSID-0C090D1E, comment: bad range option",
                        Vec::new(),
                    )]);
                }
            }
            if let Some((low, description)) = ranged_request(&name) {
                state.ranged.push((entry.dn.clone(), description));
                match &state.fault {
                    Fault::Drop { from } if low >= *from => return Answer::Drop,
                    Fault::Error { from, code } if low >= *from => {
                        return Answer::Send(vec![done(
                            msgid,
                            code.clone(),
                            "00000000: LdapErr: DSID-0C0907E9, comment: the test made this \
                             slice fail",
                            Vec::new(),
                        )]);
                    }
                    _ => {}
                }
            }
        }
        messages.push(LdapMsg {
            msgid,
            op: LdapOp::SearchResultEntry(LdapSearchResultEntry {
                dn: entry.dn.clone(),
                attributes,
            }),
            ctrl: Vec::new(),
        });
    }
    let ctrl = match next {
        Some(cookie) => vec![LdapControl::SimplePagedResults { size: 0, cookie }],
        None => Vec::new(),
    };
    messages.push(done(msgid, LdapResultCode::Success, "", ctrl));
    Answer::Send(messages)
}

/// The requested attribute descriptions with the values they name: every
/// attribute for none or `*`, else each name asked for (with its options,
/// such as `;range=`), matched case-insensitively.
fn selected<'a>(entry: &'a Entry, wanted: &[String]) -> Vec<(String, &'a [Vec<u8>])> {
    if wanted.is_empty() || wanted.iter().any(|w| w == "*") {
        return entry
            .attributes
            .iter()
            .map(|(n, v)| (n.clone(), v.as_slice()))
            .collect();
    }
    let mut out: Vec<(String, &[Vec<u8>])> = Vec::new();
    for description in wanted {
        let base = description.split(';').next().unwrap_or_default();
        if let Some((name, values)) = entry
            .attributes
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(base))
            && !out.iter().any(|(d, _)| d.eq_ignore_ascii_case(description))
        {
            let asked = description.strip_prefix(base).unwrap_or_default();
            out.push((format!("{name}{asked}"), values.as_slice()));
        }
    }
    out
}

/// The low index of a `name;range=low-high` description.
fn ranged_request(description: &str) -> Option<(usize, String)> {
    let (_, range) = description.split_once(";range=")?;
    let low = range.split('-').next()?.parse().ok()?;
    Some((low, description.to_owned()))
}

/// An attribute as a domain controller returns it (MS-ADTS 3.1.1.3.1.3.3):
/// without a range option, all values if they are no more than
/// MaxValRange, else the first MaxValRange as `name;range=0-1499`; with
/// `name;range=low-high`, at most MaxValRange values from `low` on, named
/// by the indexes returned, `*` as high when the last value is among them.
/// A range starting past the last value returns no attribute. `Err` for
/// a range option that is not one.
fn slice(description: &str, values: &[Vec<u8>]) -> Result<Option<LdapPartialAttribute>, ()> {
    let (name, low, high) = match description.split_once(";range=") {
        None if values.len() <= MAX_VAL_RANGE => {
            return Ok(Some(LdapPartialAttribute {
                atype: description.to_owned(),
                vals: values.to_vec(),
            }));
        }
        None => (description, 0, None),
        Some((name, range)) => {
            let (low, high) = range.split_once('-').ok_or(())?;
            let low: usize = low.parse().map_err(|_| ())?;
            let high = match high {
                "*" => None,
                n => Some(n.parse::<usize>().map_err(|_| ())?),
            };
            if high.is_some_and(|h| h < low) {
                return Err(());
            }
            (name, low, high)
        }
    };
    if low >= values.len() {
        return Ok(None);
    }
    let mut last = (low + MAX_VAL_RANGE - 1).min(values.len() - 1);
    if let Some(high) = high {
        last = last.min(high);
    }
    let shown_high = if last == values.len() - 1 {
        "*".to_owned()
    } else {
        last.to_string()
    };
    Ok(Some(LdapPartialAttribute {
        atype: format!("{name};range={low}-{shown_high}"),
        vals: values[low..=last].to_vec(),
    }))
}

fn equal(entry: &Entry, name: &str, value: &str) -> bool {
    let Some(values) = entry.values(name) else {
        return false;
    };
    values.iter().any(|v| {
        let v = String::from_utf8_lossy(v);
        v.eq_ignore_ascii_case(value)
            // AD's shorthand: objectCategory=person names the class's DN.
            || (name.eq_ignore_ascii_case("objectCategory")
                && v.to_lowercase().starts_with(&format!("cn={},", value.to_lowercase())))
    })
}

fn compare(entry: &Entry, name: &str, value: &str, at_least: bool) -> bool {
    entry.values(name).is_some_and(|values| {
        values.iter().any(|v| {
            let v = String::from_utf8_lossy(v);
            let order = match (v.parse::<i64>(), value.parse::<i64>()) {
                (Ok(a), Ok(b)) => a.cmp(&b),
                _ => v.to_lowercase().cmp(&value.to_lowercase()),
            };
            if at_least {
                order.is_ge()
            } else {
                order.is_le()
            }
        })
    })
}

fn matches(entry: &Entry, filter: &LdapFilter) -> bool {
    match filter {
        LdapFilter::And(all) => all.iter().all(|f| matches(entry, f)),
        LdapFilter::Or(any) => any.iter().any(|f| matches(entry, f)),
        LdapFilter::Not(f) => !matches(entry, f),
        LdapFilter::Equality(name, value) => equal(entry, name, value),
        LdapFilter::Present(name) => entry.values(name).is_some(),
        LdapFilter::GreaterOrEqual(name, value) => compare(entry, name, value, true),
        LdapFilter::LessOrEqual(name, value) => compare(entry, name, value, false),
        LdapFilter::Substring(name, parts) => entry.values(name).is_some_and(|values| {
            values.iter().any(|v| {
                let v = String::from_utf8_lossy(v).to_lowercase();
                let mut rest = v.as_str();
                if let Some(initial) = &parts.initial {
                    let Some(after) = rest.strip_prefix(&initial.to_lowercase()) else {
                        return false;
                    };
                    rest = after;
                }
                for any in &parts.any {
                    let any = any.to_lowercase();
                    let Some(at) = rest.find(&any) else {
                        return false;
                    };
                    rest = &rest[at + any.len()..];
                }
                parts
                    .final_
                    .as_ref()
                    .is_none_or(|f| rest.ends_with(&f.to_lowercase()))
            })
        }),
        _ => false,
    }
}
