//! The connection test: each step names what failed, and once the search
//! bases are set it previews what a sync would read (how many users and
//! groups match, and the first ten of each).

use cube_connector_sdk::ldap::{Directory, EntryExt, LdapError, Scope};
use cube_connector_sdk::prelude::*;

use crate::config::{Config, Tls};
use crate::server;

/// Entries counted at most, so a preview of a huge directory stays quick.
const COUNT_LIMIT: usize = 100_000;
/// Names shown per kind.
const SHOWN: usize = 10;

fn tls_words(tls: Tls) -> &'static str {
    match tls {
        Tls::Starttls => "StartTLS",
        Tls::Ldaps => "LDAPS",
        Tls::None => "no TLS: the password crossed the network in clear",
    }
}

/// How many entries under `base` match `filter`, and the `name` of the first few.
fn preview(
    directory: &Directory,
    config: &Config,
    base: &str,
    filter: &str,
    name: &str,
) -> Result<(usize, bool, Vec<String>)> {
    let mut count = 0;
    let mut names = Vec::new();
    let mut cookie = None;
    loop {
        let page = directory
            .search(base, filter)
            .attributes(&[name, "cn"])
            .page_size(config.page_size().max(100))
            .cookie(cookie)
            .send()
            .map_err(|e| match e {
                LdapError::NoSuchObject(_) => Error::config(format!(
                    "The search base {base} does not exist on {}.",
                    config.url()
                )),
                LdapError::Server((87, m)) => {
                    Error::config(format!("The filter {filter} is not valid LDAP: {m}"))
                }
                e => server::explain(config, e),
            })?;
        count += page.entries.len();
        for entry in &page.entries {
            if names.len() < SHOWN {
                names.push(
                    entry
                        .first(name)
                        .or_else(|| entry.first("cn"))
                        .unwrap_or(&entry.dn)
                        .to_owned(),
                );
            }
        }
        match page.cookie.filter(|c| !c.is_empty()) {
            Some(next) if count < COUNT_LIMIT => cookie = Some(next),
            Some(_) => return Ok((count, true, names)),
            None => return Ok((count, false, names)),
        }
    }
}

fn summary(kind: &str, base: &str, (count, more, names): (usize, bool, Vec<String>)) -> String {
    let count = if more {
        format!("more than {count}")
    } else {
        count.to_string()
    };
    let mut line = format!("{count} {kind} under {base}");
    if !names.is_empty() {
        line.push_str(&format!(
            " (first {}: {})",
            names.len().min(SHOWN),
            names.join(", ")
        ));
    }
    line.push('.');
    line
}

pub fn test_connection(config: &Config) -> Result<String> {
    if config.server.trim().is_empty() {
        return Err(Error::config("Enter the server's host name."));
    }
    let directory = server::open(config)?;
    let mut report = vec![format!(
        "Connected to {} ({}) and bound as {}.",
        config.url(),
        tls_words(config.tls),
        config.bind_dn.trim()
    )];
    let base = config.base_dn.trim();
    if base.is_empty() {
        return Ok(report.join("\n"));
    }
    directory
        .search(base, "(objectClass=*)")
        .scope(Scope::Base)
        .attributes(&["1.1"])
        .send()
        .map_err(|e| match e {
            LdapError::NoSuchObject(_) => Error::config(format!(
                "The base DN {base} does not exist on {} (or the bind account cannot see it).",
                config.url()
            )),
            e => server::explain(config, e),
        })?;
    let map = config.attributes();
    let users = preview(
        &directory,
        config,
        config.user_base(),
        &config.user_filter(),
        &map.username,
    )?;
    report.push(summary("users", config.user_base(), users));
    let groups = preview(
        &directory,
        config,
        config.group_base(),
        &config.group_filter(),
        &map.group_name,
    )?;
    report.push(summary("groups", config.group_base(), groups));
    let state = server::state(&directory, config)?;
    report.push(format!(
        "Incremental syncs follow {}.",
        state.tracking.attribute()
    ));
    Ok(report.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cube_connector_sdk::ldap::{Attribute, Entry, SearchPage};
    use cube_connector_sdk::testing;

    fn config() -> Config {
        serde_json::from_value(serde_json::json!({
            "server": "dc1.corp.example", "tls": "ldaps", "bind_dn": "CN=sync,DC=corp",
            "password": "pw", "base_dn": "DC=corp", "page_size": 2,
            "user_filter": "(objectClass=user)"
        }))
        .unwrap()
    }

    fn named(name: &str) -> Entry {
        Entry {
            dn: format!("CN={name},DC=corp"),
            attributes: vec![Attribute {
                name: "sAMAccountName".into(),
                values: vec![name.as_bytes().to_vec()],
            }],
        }
    }

    #[test]
    fn the_preview_counts_every_page_and_shows_the_first_names() {
        testing::reset();
        testing::on_ldap_search(|request| {
            let page = |entries, cookie: Option<&[u8]>| {
                Ok(SearchPage {
                    entries,
                    referrals: Vec::new(),
                    cookie: cookie.map(<[u8]>::to_vec),
                })
            };
            match (request.filter.as_str(), request.cookie.as_deref()) {
                (_, _) if request.base.is_empty() => page(
                    vec![Entry {
                        dn: String::new(),
                        attributes: vec![Attribute {
                            name: "highestCommittedUSN".into(),
                            values: vec![b"4711".to_vec()],
                        }],
                    }],
                    None,
                ),
                ("(objectClass=user)", None) => {
                    page(vec![named("ada"), named("grace")], Some(b"p2"))
                }
                ("(objectClass=user)", Some(b"p2")) => page(vec![named("linus")], None),
                ("(objectClass=group)", _) => page(vec![], None),
                _ => page(vec![named("base")], None),
            }
        });
        let report = test_connection(&config()).unwrap();
        assert!(
            report.contains(
                "Connected to ldaps://dc1.corp.example:636 (LDAPS) and bound as CN=sync,DC=corp."
            ),
            "{report}"
        );
        assert!(
            report.contains("3 users under DC=corp (first 3: ada, grace, linus)."),
            "{report}"
        );
        assert!(report.contains("0 groups under DC=corp."), "{report}");
        assert!(report.contains("uSNChanged"), "{report}");
        assert_eq!(testing::ldap_binds(), vec!["CN=sync,DC=corp".to_owned()]);
    }

    #[test]
    fn a_missing_base_is_named() {
        testing::reset();
        testing::on_ldap_search(|_| Err(LdapError::NoSuchObject("no such object".into())));
        let error = test_connection(&config()).unwrap_err();
        assert!(
            error
                .message()
                .contains("The base DN DC=corp does not exist"),
            "{}",
            error.message()
        );
    }
}
