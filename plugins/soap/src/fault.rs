//! SOAP Faults, 1.1 (`faultcode`, `faultstring`, `detail`) and 1.2
//! (`Code/Value` with `Subcode`s, `Reason/Text`, `Detail`), turned into
//! errors that name the code and the service's own words.

use cube_connector_sdk::Error;

use crate::version::{SOAP11_ENV, SOAP12_ENV};
use crate::xml::Element;

/// Codes of the WS-Security faults (OASIS SOAP Message Security 1.1,
/// section 12) and the usual authentication subcodes: a refusal, not a bug.
const AUTH_CODES: [&str; 6] = [
    "FailedAuthentication",
    "InvalidSecurityToken",
    "InvalidSecurity",
    "FailedCheck",
    "SecurityTokenUnavailable",
    "MessageExpired",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The code, SOAP's own prefix dropped: `Client.NotFound`,
    /// `Sender/NotFound` (1.2 subcodes joined with `/`).
    pub code: String,
    pub reason: String,
    /// The detail's text, whitespace collapsed.
    pub detail: String,
}

/// A code's QName shown without the prefix when it is SOAP's own.
fn code_name(element: &Element) -> String {
    let written = element.text.trim();
    match element.resolve_qname(written) {
        (Some(ns), local) if ns == SOAP11_ENV || ns == SOAP12_ENV => local.to_owned(),
        _ => written.to_owned(),
    }
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The Fault in a response envelope, if its body holds one.
pub fn find(envelope: &Element) -> Option<Fault> {
    let body = envelope.children.iter().find(|c| {
        c.local == "Body" && matches!(c.ns.as_deref(), Some(SOAP11_ENV) | Some(SOAP12_ENV))
    })?;
    let fault = body
        .children
        .iter()
        .find(|c| c.local == "Fault" && c.ns == body.ns)?;
    if body.ns.as_deref() == Some(SOAP12_ENV) {
        let mut codes = Vec::new();
        let mut code = fault.child(SOAP12_ENV, "Code");
        while let Some(c) = code {
            if let Some(value) = c.child(SOAP12_ENV, "Value") {
                codes.push(code_name(value));
            }
            code = c.child(SOAP12_ENV, "Subcode");
            if codes.len() > 16 {
                break;
            }
        }
        let reason = fault
            .child(SOAP12_ENV, "Reason")
            .and_then(|r| {
                let texts: Vec<&Element> = r.children_named(SOAP12_ENV, "Text").collect();
                texts
                    .iter()
                    .find(|t| {
                        t.attr("xml:lang")
                            .is_some_and(|l| l.to_ascii_lowercase().starts_with("en"))
                    })
                    .or(texts.first())
                    .map(|t| collapse(&t.text_content()))
            })
            .unwrap_or_default();
        Some(Fault {
            code: codes.join("/"),
            reason,
            detail: fault
                .child(SOAP12_ENV, "Detail")
                .map(|d| collapse(&d.text_content()))
                .unwrap_or_default(),
        })
    } else {
        // SOAP 1.1's fault children are unqualified (some services qualify
        // them anyway): found by local name.
        Some(Fault {
            code: fault
                .child_local("faultcode")
                .map(code_name)
                .unwrap_or_default(),
            reason: fault
                .child_local("faultstring")
                .map(|s| collapse(&s.text_content()))
                .unwrap_or_default(),
            detail: fault
                .child_local("detail")
                .map(|d| collapse(&d.text_content()))
                .unwrap_or_default(),
        })
    }
}

impl Fault {
    fn segments(&self) -> impl Iterator<Item = &str> {
        self.code.split(['.', ':', '/']).filter(|s| !s.is_empty())
    }

    /// The connector error: WS-Security refusals are `auth`, the server's
    /// own failures (`Server`, `Receiver`) `transient`, and the rest
    /// (`Client`, `Sender`, a version mismatch) `fatal`: the request must
    /// change.
    pub fn into_error(self, operation: &str) -> Error {
        let shown_code = if self.code.is_empty() {
            "(no code)"
        } else {
            &self.code
        };
        let mut message = format!(
            "{operation} answered with SOAP Fault {shown_code}: {}",
            if self.reason.is_empty() {
                "(no reason given)"
            } else {
                &self.reason
            }
        );
        if !self.detail.is_empty() {
            let mut detail: String = self.detail.chars().take(300).collect();
            if detail.len() < self.detail.len() {
                detail.push('…');
            }
            message.push_str(&format!(" (detail: {detail})"));
        }
        if self.segments().any(|s| AUTH_CODES.contains(&s)) {
            if !message.ends_with(['.', ')']) {
                message.push('.');
            }
            Error::auth(format!(
                "{message} Check the WS-Security user, password and mode."
            ))
        } else if self
            .segments()
            .next()
            .is_some_and(|s| s == "Server" || s == "Receiver")
        {
            Error::transient(message)
        } else {
            Error::fatal(message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::parse;

    #[test]
    fn reads_spyne_faults_in_both_versions() {
        let f11 = find(&parse(include_str!("../tests/seeds/fault-11.xml")).unwrap()).unwrap();
        assert_eq!(
            f11,
            Fault {
                code: "Client.NotFound".into(),
                reason: "There is no item 9.".into(),
                detail: String::new()
            }
        );
        let f12 = find(&parse(include_str!("../tests/seeds/fault-12.xml")).unwrap()).unwrap();
        assert_eq!(f12.code, "Sender/NotFound");
        assert_eq!(f12.reason, "There is no item 9.");
        let error = f11.into_error("GetItem");
        assert_eq!(
            error,
            Error::fatal("GetItem answered with SOAP Fault Client.NotFound: There is no item 9.")
        );
    }

    #[test]
    fn classifies_security_and_server_faults() {
        let fault = |code: &str| Fault {
            code: code.into(),
            reason: "no".into(),
            detail: "x ".repeat(400),
        };
        let auth = fault("wsse:FailedAuthentication").into_error("Op");
        assert!(matches!(&auth, Error::Auth(m) if m.contains("detail: x x") && m.contains('…')));
        assert!(matches!(
            fault("Sender/InvalidSecurity").into_error("Op"),
            Error::Auth(_)
        ));
        assert!(matches!(
            fault("Server").into_error("Op"),
            Error::Transient(_)
        ));
        assert!(matches!(fault("Client").into_error("Op"), Error::Fatal(_)));
    }

    #[test]
    fn a_body_without_fault_is_none() {
        let ok = parse(include_str!("../tests/seeds/response-11.xml")).unwrap();
        assert!(find(&ok).is_none());
        assert!(find(&parse("<a/>").unwrap()).is_none());
    }
}
