//! Search filters: equality (with AD's `objectCategory` shorthand),
//! presence, substrings, `>=`/`<=` (numbers as numbers), and/or/not.

use ldap3_proto::proto::LdapFilter;

use super::Entry;

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

pub fn matches(entry: &Entry, filter: &LdapFilter) -> bool {
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
