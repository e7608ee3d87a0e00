//! What a connector asks to reach, in words an admin reads before
//! installing or upgrading it, and what an upgrade asks for that the
//! installed version does not.

use super::package::Capabilities;

/// What capability patterns ask for, as sentences an admin reads before
/// installing: `https://*` is "Connects to any HTTPS server you grant it".
pub fn sentences(capabilities: &Capabilities) -> Vec<String> {
    let mut sentences: Vec<String> = capabilities
        .http
        .iter()
        .chain(&capabilities.ldap)
        .map(|pattern| sentence(pattern))
        .collect();
    sentences.dedup();
    if sentences.is_empty() {
        sentences.push("Connects to nothing outside this host".to_owned());
    }
    sentences
}

/// One pattern as a sentence.
pub fn sentence(pattern: &str) -> String {
    let (scheme, rest) = pattern.split_once("://").unwrap_or(("", pattern));
    let (kind, servers) = match scheme {
        "https" => ("HTTPS", "server"),
        "http" => ("plain HTTP (unencrypted)", "server"),
        "ldap" => ("LDAP", "LDAP server"),
        "ldaps" => ("LDAPS (LDAP over TLS)", "LDAP server"),
        _ => return format!("Asks for `{pattern}`, which this host does not recognise"),
    };
    let any_host = rest == "*" || rest.starts_with("*:") || rest.starts_with("*/");
    match (scheme, any_host) {
        ("ldap", true) => "Connects to LDAP servers you grant it".to_owned(),
        ("ldaps", true) => "Connects to LDAP servers over TLS (LDAPS) you grant it".to_owned(),
        (_, true) => format!("Connects to any {kind} {servers} you grant it"),
        (_, false) if rest.contains('*') => {
            format!("Connects to {kind} {servers}s matching `{rest}` that you grant it")
        }
        (_, false) => format!("Connects to the {kind} {servers} `{rest}`, if you grant it"),
    }
}

/// The patterns `new` asks for that `current` does not list, kind by kind.
/// Patterns are compared as written: `https://*` is new beside
/// `https://example.com` even though it covers it.
pub fn added(new: &Capabilities, current: &Capabilities) -> Capabilities {
    let missing = |new: &[String], current: &[String]| {
        let mut out: Vec<String> = Vec::new();
        for pattern in new {
            if !current.contains(pattern) && !out.contains(pattern) {
                out.push(pattern.clone());
            }
        }
        out
    };
    Capabilities {
        http: missing(&new.http, &current.http),
        ldap: missing(&new.ldap, &current.ldap),
    }
}

/// `added` as sentences naming each pattern: "Connects to any HTTPS server
/// you grant it (`https://*`)". Empty when nothing is new.
pub fn added_sentences(added: &Capabilities) -> Vec<String> {
    added
        .http
        .iter()
        .chain(&added.ldap)
        .map(|pattern| format!("{} (`{pattern}`)", sentence(pattern)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(http: &[&str], ldap: &[&str]) -> Capabilities {
        Capabilities {
            http: http.iter().map(|s| s.to_string()).collect(),
            ldap: ldap.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn only_what_the_current_version_lacks_is_added() {
        let current = caps(&["https://a.example"], &[]);
        let new = caps(
            &["https://a.example", "https://*", "https://*"],
            &["ldaps://*"],
        );
        let added = added(&new, &current);
        assert_eq!(added, caps(&["https://*"], &["ldaps://*"]));
        assert_eq!(
            added_sentences(&added),
            [
                "Connects to any HTTPS server you grant it (`https://*`)",
                "Connects to LDAP servers over TLS (LDAPS) you grant it (`ldaps://*`)"
            ]
        );
        // Asking for less adds nothing.
        assert_eq!(super::added(&current, &new), Capabilities::default());
        assert_eq!(super::added(&caps(&[], &[]), &new), Capabilities::default());
        assert!(added_sentences(&Capabilities::default()).is_empty());
    }
}
