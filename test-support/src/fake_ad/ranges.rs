//! Ranged retrieval of attribute values (MS-ADTS 3.1.1.3.1.3.3): which
//! attributes a search asks for, and the slice of values each answer holds.

use ldap3_proto::proto::LdapPartialAttribute;

use super::{Entry, MAX_VAL_RANGE};

/// The requested attribute descriptions with the values they name: every
/// attribute for none or `*`, else each name asked for (with its options,
/// such as `;range=`), matched case-insensitively.
pub fn selected<'a>(entry: &'a Entry, wanted: &[String]) -> Vec<(String, &'a [Vec<u8>])> {
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
pub fn ranged_request(description: &str) -> Option<(usize, String)> {
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
pub fn slice(description: &str, values: &[Vec<u8>]) -> Result<Option<LdapPartialAttribute>, ()> {
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
