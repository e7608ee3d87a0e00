//! The columns of a directory user, read from a record's JSON fields
//! without building a `serde_json::Value` of the whole object.
//!
//! A full sync writes tens of thousands of users; parsing each record into a
//! map (an allocation per key and value, freed at once) only to pick six
//! fields cost more than the SQLite insert beside it. The rules are those
//! of the generic path: a field is text when it is a non-empty string or a
//! number; the first present name of a list wins; `enabled` is only false
//! when it is the boolean `false`.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One JSON value as the columns read it.
enum Scalar<'a> {
    Text(Cow<'a, str>),
    Bool(bool),
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Read<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for Read<'a> {
            type Value = Scalar<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Owned(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Owned(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Scalar::Text(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                // Written as `serde_json::Value` would write it.
                Ok(serde_json::Number::from_f64(v)
                    .map_or(Scalar::Other, |n| Scalar::Text(Cow::Owned(n.to_string()))))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
        }
        deserializer.deserialize_any(Read(std::marker::PhantomData))
    }
}

/// The fields a user's columns come from, under the names connectors use.
#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(borrow, default)]
    username: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    uid: Option<Scalar<'a>>,
    #[serde(borrow, default, rename = "sAMAccountName")]
    sam_account_name: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    email: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    mail: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    display_name: Option<Scalar<'a>>,
    #[serde(borrow, default, rename = "displayName")]
    display_name_ad: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    cn: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    dn: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    enabled: Option<Scalar<'a>>,
}

/// A user's columns, as `directory_users` stores them.
#[derive(Debug, PartialEq, Eq)]
pub struct UserColumns {
    pub username: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub dn: Option<String>,
    pub enabled: bool,
}

fn first(options: &[&Option<Scalar>]) -> Option<String> {
    options.iter().find_map(|o| match o {
        Some(Scalar::Text(t)) if !t.is_empty() => Some(t.clone().into_owned()),
        _ => None,
    })
}

impl UserColumns {
    /// The columns of `fields`, or `None` when it is not a JSON object.
    pub fn parse(fields: &str) -> Option<Self> {
        // A derived struct also accepts an array: only objects are records.
        if !fields.trim_start().starts_with('{') {
            return None;
        }
        let f: Fields = serde_json::from_str(fields).ok()?;
        Some(UserColumns {
            username: first(&[&f.username, &f.uid, &f.sam_account_name]),
            email: first(&[&f.email, &f.mail]),
            display_name: first(&[&f.display_name, &f.display_name_ad, &f.cn]),
            dn: first(&[&f.dn]),
            enabled: !matches!(f.enabled, Some(Scalar::Bool(false))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_follow_the_first_present_name_and_skip_the_rest() {
        let columns = UserColumns::parse(
            r#"{"username":"","uid":"ada","mail":"ada@example.com","displayName":"Ada \"L\"",
                "member_of":["cn=a",{"x":[1,2]}],"dn":"uid=ada,dc=example","enabled":false,"n":1.5}"#,
        )
        .unwrap();
        assert_eq!(
            columns,
            UserColumns {
                username: Some("ada".into()),
                email: Some("ada@example.com".into()),
                display_name: Some("Ada \"L\"".into()),
                dn: Some("uid=ada,dc=example".into()),
                enabled: false,
            }
        );
        let numbers = UserColumns::parse(r#"{"uid":42,"cn":1.5,"enabled":"no"}"#).unwrap();
        assert_eq!(numbers.username.as_deref(), Some("42"));
        assert_eq!(numbers.display_name.as_deref(), Some("1.5"));
        assert!(numbers.enabled, "only the boolean false disables");
        assert_eq!(UserColumns::parse("[1,2]"), None);
        assert_eq!(UserColumns::parse("{\"uid\":"), None);
        assert_eq!(UserColumns::parse("\"text\""), None);
    }
}
