//! Connection-test verdicts written for admins, not developers: what failed,
//! in plain words, and what to check.

use serde::{Deserialize, Serialize};

use crate::runtime::{CallError, CallOutcome, ConnectorError, LogLine};

/// The outcome of a connection test.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Verdict {
    pub ok: bool,
    /// One line: what happened.
    pub headline: String,
    /// What the connector or the host said.
    pub detail: String,
    /// What to check next; empty when the test passed.
    pub advice: String,
    pub duration_ms: u64,
    pub log: Vec<LogLine>,
}

impl Verdict {
    pub fn from_outcome(outcome: CallOutcome<String>) -> Self {
        let duration_ms = outcome.report.duration.as_millis() as u64;
        let log = outcome.report.log;
        let (ok, headline, detail, advice) = match outcome.result {
            Ok(message) => (
                true,
                "Connection test passed".to_owned(),
                message,
                String::new(),
            ),
            Err(error) => {
                let (headline, advice) = explain(&error);
                (
                    false,
                    headline.to_owned(),
                    detail_of(&error),
                    advice.to_owned(),
                )
            }
        };
        Self {
            ok,
            headline,
            detail,
            advice,
            duration_ms,
            log,
        }
    }

    /// One line for lists and the sync log.
    pub fn summary(&self) -> String {
        if self.detail.is_empty() {
            self.headline.clone()
        } else {
            format!("{}: {}", self.headline, self.detail)
        }
    }
}

fn detail_of(error: &CallError) -> String {
    match error {
        CallError::Connector(
            ConnectorError::Config(m)
            | ConnectorError::Auth(m)
            | ConnectorError::Unreachable(m)
            | ConnectorError::Transient(m)
            | ConnectorError::Fatal(m),
        ) => m.clone(),
        other => other.to_string(),
    }
}

fn explain(error: &CallError) -> (&'static str, &'static str) {
    match error {
        CallError::Connector(ConnectorError::Config(m))
            if m.contains("not granted") || m.contains("is denied") =>
        {
            (
                "The connector may not reach that address",
                "The address is outside this integration's allowed destinations. Add it under \
             \"Allowed destinations\" (followed by the word private if it is an intranet server), \
             or correct the address in the configuration.",
            )
        }
        // An LDAP server that refuses a bind over plain LDAP (Active
        // Directory with signing required answers strongerAuthRequired).
        CallError::Connector(
            ConnectorError::Config(m) | ConnectorError::Auth(m) | ConnectorError::Fatal(m),
        ) if m.contains("requires TLS or signing") => (
            "The server requires TLS or signing",
            "The server refuses a password over plain LDAP. Set TLS to LDAPS (port 636) or \
             StartTLS (port 389), give the CA certificate (PEM) if the server's certificate is \
             not from a public CA, allow that address under \"Allowed destinations\" \
             (ldaps://HOST:636 for LDAPS), then test again.",
        ),
        CallError::Connector(ConnectorError::Config(_)) => (
            "The configuration is incomplete or wrong",
            "Check the fields named in the message, then test again.",
        ),
        CallError::Connector(ConnectorError::Auth(_)) => (
            "The credentials were refused",
            "Check the user name, password or token, and that the account is enabled and has \
             the permissions the connector needs.",
        ),
        CallError::Connector(ConnectorError::Unreachable(_)) => (
            "The server could not be reached",
            "Check the host name and port in the configuration, that the server is running and \
             listening on that port, and that no firewall between this host and the server \
             blocks it; the message below says whether the name did not resolve, the \
             connection was refused or it timed out.",
        ),
        CallError::Connector(ConnectorError::RateLimited { .. }) => (
            "The server asked us to slow down",
            "The server is rate-limiting this account. Wait a little and test again.",
        ),
        CallError::Connector(ConnectorError::Transient(_)) => (
            "The server had a temporary problem",
            "This may pass on its own. Test again in a minute; if it persists, check the \
             server's status.",
        ),
        CallError::Connector(ConnectorError::Fatal(_)) => (
            "The connector reported an error",
            "The server answered something the connector did not expect. Read the message \
             below: when it names a setting (a base DN, a filter, an attribute, TLS) or a \
             permission of the account, correct that and test again; otherwise report it to \
             the connector's author with the message and the log.",
        ),
        CallError::DeadlineExceeded(_) => (
            "The test took too long and was stopped",
            "The server did not answer in time. Check that it answers quickly (a search \
             base lower in the tree or a smaller page size makes each call shorter), then \
             test again.",
        ),
        CallError::MemoryExceeded(_) => (
            "The connector used too much memory and was stopped",
            "A call may use a bounded amount of memory. A smaller page size, where the \
             connector has one, reads less at once; if that does not help, report it to the \
             connector's author with the message below.",
        ),
        CallError::Trap(_) | CallError::Instantiate(_) => (
            "The connector crashed",
            "This is a defect in the connector, not in your settings. Report it to the \
             connector's author with the message below.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::CallReport;

    fn verdict(result: Result<String, CallError>) -> Verdict {
        Verdict::from_outcome(CallOutcome {
            result,
            report: CallReport::default(),
        })
    }

    #[test]
    fn a_refused_password_says_to_check_the_credentials() {
        let v = verdict(Err(CallError::Connector(ConnectorError::Auth(
            "invalid credentials (52e)".into(),
        ))));
        assert!(!v.ok);
        assert_eq!(v.headline, "The credentials were refused");
        assert_eq!(v.detail, "invalid credentials (52e)");
        assert!(v.advice.contains("password"));
    }

    #[test]
    fn an_address_outside_the_grants_points_at_allowed_destinations() {
        let v = verdict(Err(CallError::Connector(ConnectorError::Config(
            "not allowed: http://10.0.0.1:80 is not granted to this integration".into(),
        ))));
        assert!(v.advice.contains("Allowed destinations"), "{}", v.advice);
    }

    #[test]
    fn a_pass_has_no_advice() {
        let v = verdict(Ok("connected as admin".into()));
        assert!(v.ok && v.advice.is_empty());
        assert_eq!(v.summary(), "Connection test passed: connected as admin");
    }

    #[test]
    fn a_server_that_wants_tls_or_signing_gets_tls_advice_not_a_defect_report() {
        let message = "ldap://dc1:389 (LDAP result 8): strongerAuthRequired: the server \
                       requires TLS or signing: use LDAPS (636) or StartTLS";
        for error in [
            ConnectorError::Config(message.into()),
            ConnectorError::Fatal(message.into()),
        ] {
            let v = verdict(Err(CallError::Connector(error)));
            assert_eq!(v.headline, "The server requires TLS or signing");
            assert!(v.advice.contains("LDAPS (port 636)"), "{}", v.advice);
            assert!(!v.advice.contains("author"), "{}", v.advice);
        }
    }

    #[test]
    fn every_failure_says_what_to_do() {
        let failures = [
            CallError::Connector(ConnectorError::Config("x".into())),
            CallError::Connector(ConnectorError::Auth("x".into())),
            CallError::Connector(ConnectorError::Unreachable("x".into())),
            CallError::Connector(ConnectorError::Transient("x".into())),
            CallError::Connector(ConnectorError::Fatal("x".into())),
        ];
        for error in failures {
            let v = verdict(Err(error));
            assert!(!v.ok);
            // A step the admin can take, named in words of the settings.
            assert!(
                ["Check", "Set", "Test again", "correct"]
                    .iter()
                    .any(|w| v.advice.contains(w)),
                "{}: {}",
                v.headline,
                v.advice
            );
            assert!(!v.advice.contains("memory limit"), "{}", v.advice);
        }
    }
}
