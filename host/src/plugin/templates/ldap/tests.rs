//! The connector's logic against the SDK's LDAP double: each test answers
//! the binds and searches the connector makes, then checks its records.

use cube_connector_sdk::ldap::{Attribute, Entry, LdapError};
use cube_connector_sdk::testing::{self, SearchPage};
use cube_connector_sdk::types::SyncMode;

use super::*;

fn config() -> Config {
    Config {
        url: "ldaps://directory.example.com".into(),
        starttls: false,
        bind_dn: "cn=sync,dc=example,dc=com".into(),
        password: "s3cret-for-tests".into(),
        base_dn: "dc=example,dc=com".into(),
        user_filter: default_user_filter(),
        group_filter: default_group_filter(),
    }
}

fn entry(dn: &str, attributes: &[(&str, &[&str])]) -> Entry {
    Entry {
        dn: dn.into(),
        attributes: attributes
            .iter()
            .map(|(name, values)| Attribute {
                name: (*name).into(),
                values: values.iter().map(|v| v.as_bytes().to_vec()).collect(),
            })
            .collect(),
    }
}

fn input(cursor: Option<String>) -> SyncInput {
    SyncInput {
        mode: SyncMode::Full,
        cursor,
        dry_run: false,
        page_size: 1,
    }
}

#[test]
fn info_declares_ldap_and_a_secret_password() {
    let info = __TYPE__::info();
    assert_eq!(info.capabilities.ldap, ["ldap://*", "ldaps://*"]);
    let schema: serde_json::Value = serde_json::from_str(&info.config_schema).unwrap();
    assert_eq!(schema["properties"]["password"]["writeOnly"], true);
}

#[test]
fn a_wrong_password_is_an_authentication_error() {
    testing::reset();
    testing::on_ldap_bind(|_, _| Err(LdapError::InvalidCredentials("52e".into())));
    let error = __TYPE__::test_connection(config()).unwrap_err();
    assert!(!error.is_retryable(), "{error:?}");
    assert_eq!(testing::ldap_binds(), ["cn=sync,dc=example,dc=com"]);
}

#[test]
fn a_sync_pages_through_users_with_the_cookie_then_reads_groups() {
    testing::reset();
    testing::on_ldap_search(|request| {
        let page = |entries, cookie: Option<&[u8]>| SearchPage {
            entries,
            referrals: Vec::new(),
            cookie: cookie.map(<[u8]>::to_vec),
        };
        Ok(match (request.filter.as_str(), request.cookie.as_deref()) {
            ("(objectClass=inetOrgPerson)", None) => page(
                vec![entry(
                    "uid=ada,ou=people,dc=example,dc=com",
                    &[
                        ("uid", &["ada"]),
                        ("mail", &["ada@example.com"]),
                        ("entryUUID", &["u-1"]),
                    ],
                )],
                Some(&[0xca, 0xfe]),
            ),
            ("(objectClass=inetOrgPerson)", Some([0xca, 0xfe])) => page(
                vec![entry(
                    "uid=bob,ou=people,dc=example,dc=com",
                    &[
                        ("uid", &["bob"]),
                        ("cn", &["Bob B"]),
                        ("entryUUID", &["u-2"]),
                    ],
                )],
                None,
            ),
            ("(objectClass=groupOfNames)", None) => page(
                vec![entry(
                    "cn=ops,ou=groups,dc=example,dc=com",
                    &[
                        ("cn", &["ops"]),
                        ("member", &["uid=ada,ou=people,dc=example,dc=com"]),
                        ("entryUUID", &["g-1"]),
                    ],
                )],
                None,
            ),
            other => panic!("unexpected search {other:?}"),
        })
    });

    let first = __TYPE__::sync(config(), input(None)).unwrap();
    assert_eq!(first.records[0].kind, "user");
    assert_eq!(
        first.records[0].fields_json().unwrap()["email"],
        "ada@example.com"
    );
    assert!(first.has_more);
    assert!(first.cursor.as_deref().unwrap().contains("cafe"));

    let second = __TYPE__::sync(config(), input(first.cursor)).unwrap();
    assert_eq!(second.records[0].external_id, "u-2");
    assert_eq!(
        second.records[0].fields_json().unwrap()["display_name"],
        "Bob B"
    );
    assert!(second.has_more);

    let third = __TYPE__::sync(config(), input(second.cursor)).unwrap();
    assert!(!third.has_more);
    assert_eq!(third.records[0].kind, "group");
    assert_eq!(
        third.records[0].fields_json().unwrap()["member_dns"],
        json!(["uid=ada,ou=people,dc=example,dc=com"])
    );
}

#[test]
fn an_entry_without_a_stable_id_is_refused_in_words() {
    testing::reset();
    testing::on_ldap_search(|_| {
        Ok(SearchPage {
            entries: vec![entry("uid=x,dc=example,dc=com", &[("uid", &["x"])])],
            referrals: Vec::new(),
            cookie: None,
        })
    });
    let error = __TYPE__::sync(config(), input(None)).unwrap_err();
    assert!(error.message().contains("entryUUID"), "{error:?}");
}
