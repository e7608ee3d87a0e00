//! The LDAP conversation: binds, and searches of the root DSE, the NTDS
//! settings and the directory, with paged results and the injected faults.

use std::sync::{Arc, Mutex};

use bytes::BytesMut;
use ldap3_proto::LdapCodec;
use ldap3_proto::control::LdapControl;
use ldap3_proto::proto::{
    LdapBindCred, LdapBindResponse, LdapMsg, LdapOp, LdapResult, LdapResultCode, LdapSearchRequest,
    LdapSearchResultEntry, LdapSearchScope,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::{Decoder, Encoder};

use super::filter::matches;
use super::ranges::{ranged_request, selected, slice};
use super::seed::text;
use super::{BASE, BIND_DN, Entry, Fault, NTDS, PASSWORD, State};

/// What one request gets: messages to send, or the connection dropped.
enum Answer {
    Send(Vec<LdapMsg>),
    Drop,
}

pub async fn serve(mut socket: TcpStream, state: Arc<Mutex<State>>) {
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
