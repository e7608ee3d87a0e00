//! LDAP failures in words an admin can act on.
//!
//! Result codes get their RFC 4511 names; a refused bind gets Active
//! Directory's sub-code (the `data 52e` in its diagnostic text) explained,
//! since "invalid credentials" covers a wrong password, a disabled or
//! locked account and an expired password alike.

use ldap3::LdapError as ClientError;

use crate::runtime::bindings::cube::connector::ldap::LdapError;

/// The name of an LDAP result code (RFC 4511, appendix A).
pub fn result_name(code: u32) -> &'static str {
    match code {
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        7 => "authMethodNotSupported",
        8 => "strongerAuthRequired",
        10 => "referral",
        11 => "adminLimitExceeded",
        12 => "unavailableCriticalExtension",
        13 => "confidentialityRequired",
        16 => "noSuchAttribute",
        21 => "invalidAttributeSyntax",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        80 => "other",
        _ => "unknown result",
    }
}

/// What an Active Directory bind sub-code means, and what to do about it.
pub fn ad_bind_reason(data: &str) -> Option<&'static str> {
    Some(match data.to_ascii_lowercase().as_str() {
        "525" => "the user does not exist (AD 525): check the bind DN",
        "52e" => "the password is wrong (AD 52e): check the bind password",
        "530" => "the account may not sign in at this time (AD 530): check its logon hours",
        "531" => {
            "the account may not sign in from this computer (AD 531): check its allowed workstations"
        }
        "532" => "the account's password has expired (AD 532): set a new one",
        "533" => "the account is disabled (AD 533): enable it in Active Directory",
        "568" => "the account has too many security identifiers (AD 568)",
        "701" => "the account has expired (AD 701): extend its expiry date",
        "773" => "the account must change its password first (AD 773): set a new one",
        "775" => "the account is locked out (AD 775): unlock it or wait for the lockout to end",
        _ => return None,
    })
}

/// What to do when the server wants TLS or signing before it accepts a
/// bind (or an operation): the words the connection-test verdict keys on.
pub const TLS_REQUIRED: &str = "the server requires TLS or signing: use LDAPS (636) or StartTLS";

/// The `data XXX` sub-code in an AD diagnostic message.
fn ad_data_code(text: &str) -> Option<&str> {
    let at = text.find("data ")? + 5;
    let code = &text[at..];
    let end = code
        .find(|c: char| !c.is_ascii_hexdigit())
        .unwrap_or(code.len());
    (end > 0).then(|| &code[..end])
}

/// A non-success LDAP result as the contract's error.
pub fn from_result(code: u32, text: &str, operation: &str) -> LdapError {
    let text = text.trim();
    match code {
        49 => {
            let reason = ad_data_code(text)
                .and_then(ad_bind_reason)
                .map(str::to_owned)
                .unwrap_or_else(|| {
                    if text.is_empty() {
                        "the bind DN or password is wrong".to_owned()
                    } else {
                        format!("the bind DN or password is wrong ({text})")
                    }
                });
            LdapError::InvalidCredentials(format!("the server refused the bind: {reason}"))
        }
        32 => LdapError::NoSuchObject(format!(
            "the {operation}'s base DN does not exist on this server{}: check the base DN",
            if text.is_empty() {
                String::new()
            } else {
                format!(" ({text})")
            }
        )),
        4 => LdapError::Server((
            code,
            format!(
                "sizeLimitExceeded: the server stopped the {operation} at its size limit; \
                 use paging (a page size) or ask for a higher limit for the bind account"
            ),
        )),
        // Active Directory answers a simple bind over plain LDAP with 8
        // ("BindSimple: Transport encryption required") when it requires
        // signing (the default since 2020's LDAP hardening).
        8 | 13 => LdapError::Server((
            code,
            format!(
                "{}: {TLS_REQUIRED}{}",
                result_name(code),
                if text.is_empty() {
                    String::new()
                } else {
                    format!(" (the server said: {text})")
                }
            ),
        )),
        7 | 48 => LdapError::Server((
            code,
            format!(
                "{}: the server does not accept a simple bind with a password here{}; \
                 use LDAPS (636) or StartTLS, or check that the bind DN names an account",
                result_name(code),
                if text.is_empty() {
                    String::new()
                } else {
                    format!(" ({text})")
                }
            ),
        )),
        50 => LdapError::Server((
            code,
            format!(
                "insufficientAccessRights during the {operation}{}: give the bind account read \
                 access to the base DN and the attributes synced",
                if text.is_empty() {
                    String::new()
                } else {
                    format!(" ({text})")
                }
            ),
        )),
        _ => LdapError::Server((
            code,
            if text.is_empty() {
                format!("{} during the {operation}", result_name(code))
            } else {
                format!("{} during the {operation}: {text}", result_name(code))
            },
        )),
    }
}

/// Whether an I/O error is a TLS failure, and its words if so.
fn tls_failure(error: &std::io::Error) -> Option<String> {
    let inner = error.get_ref()?;
    let rustls = inner.downcast_ref::<rustls::Error>()?;
    Some(match rustls {
        rustls::Error::InvalidCertificate(why) => format!(
            "the server's certificate is not trusted ({why:?}): give the integration the CA certificate (PEM) that signed it"
        ),
        other => format!("TLS failed: {other}"),
    })
}

/// A client-side failure (connection, TLS, timeout, protocol) as the
/// contract's error. `server` names the server for the message.
pub fn from_client(error: ClientError, server: &str, operation: &str) -> LdapError {
    match error {
        ClientError::LdapResult { result } => from_result(result.rc, &result.text, operation),
        ClientError::Io { source } => match tls_failure(&source) {
            Some(message) => LdapError::Tls(format!("{server}: {message}")),
            None => LdapError::Connection(format!("{server}: {source}")),
        },
        ClientError::Rustls { source } => LdapError::Tls(format!("{server}: TLS failed: {source}")),
        ClientError::Timeout { .. } => {
            LdapError::Connection(format!("{server} did not answer the {operation} in time"))
        }
        ClientError::FilterParsing => LdapError::Server((
            87,
            "filterError: the search filter is not a valid RFC 4515 filter".to_owned(),
        )),
        ClientError::OpSend { .. } | ClientError::ResultRecv { .. } => {
            LdapError::Connection(format!(
                "the connection to {server} was closed: it will be opened again on the next call"
            ))
        }
        other => LdapError::Connection(format!("{server}: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ad_sub_codes_become_reasons() {
        let text = "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 775, v4563";
        let LdapError::InvalidCredentials(message) = from_result(49, text, "bind") else {
            panic!("a bind failure");
        };
        assert!(message.contains("locked out"), "{message}");
        for (code, words) in [
            ("52e", "password is wrong"),
            ("533", "disabled"),
            ("532", "expired"),
            ("773", "change its password"),
            ("701", "account has expired"),
            ("530", "logon hours"),
        ] {
            let text = format!("AcceptSecurityContext error, data {code}, v893");
            let LdapError::InvalidCredentials(message) = from_result(49, &text, "bind") else {
                panic!("a bind failure");
            };
            assert!(message.contains(words), "{code}: {message}");
        }
        let LdapError::InvalidCredentials(plain) = from_result(49, "", "bind") else {
            panic!("a bind failure");
        };
        assert!(plain.contains("bind DN or password is wrong"));
    }

    #[test]
    fn result_codes_are_named() {
        let LdapError::Server((code, message)) = from_result(50, "no read access", "search") else {
            panic!("a server error");
        };
        assert_eq!(code, 50);
        assert_eq!(
            message,
            "insufficientAccessRights during the search (no read access): give the bind account \
             read access to the base DN and the attributes synced"
        );
        assert!(matches!(
            from_result(32, "", "search"),
            LdapError::NoSuchObject(_)
        ));
        let LdapError::Server((_, limit)) = from_result(4, "", "search") else {
            panic!("a server error");
        };
        assert!(limit.contains("use paging"));
    }

    #[test]
    fn a_server_that_wants_tls_or_signing_says_which_settings_fix_it() {
        // Samba and Windows answer a simple bind over plain LDAP so.
        for code in [8, 13] {
            let LdapError::Server((got, message)) =
                from_result(code, "BindSimple: Transport encryption required.", "bind")
            else {
                panic!("a server error");
            };
            assert_eq!(got, code);
            assert!(message.contains(TLS_REQUIRED), "{message}");
            assert!(
                message.contains("Transport encryption required"),
                "{message}"
            );
        }
        let LdapError::Server((_, message)) = from_result(48, "", "bind") else {
            panic!("a server error");
        };
        assert!(message.contains("LDAPS (636) or StartTLS"), "{message}");
    }
}
