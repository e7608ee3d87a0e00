//! One page of a search: the request as ldap3 wants it, the answer as the
//! contract gives it (raw attribute values, referrals, the next cookie).

use std::time::Duration;

use ldap3::controls::{ControlType, MakeCritical, PagedResults};
use ldap3::{Ldap, Scope, SearchEntry, SearchOptions, parse_refs};

use crate::runtime::bindings::cube::connector::ldap::{
    self as wit, Attribute, Entry, LdapError, PackedPage, SearchPage, SearchRequest,
};

/// Why a search failed: the client's error, or one the host decided.
pub enum Failure {
    Client(ldap3::LdapError),
    Contract(LdapError),
}

impl From<ldap3::LdapError> for Failure {
    fn from(e: ldap3::LdapError) -> Self {
        Failure::Client(e)
    }
}

fn clamp(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Runs one page of `request` on `ldap`.
pub async fn run(
    ldap: &mut Ldap,
    request: &SearchRequest,
    timeout: Duration,
    max_bytes: usize,
) -> Result<SearchPage, Failure> {
    let scope = match request.scope {
        wit::Scope::Base => Scope::Base,
        wit::Scope::OneLevel => Scope::OneLevel,
        wit::Scope::Subtree => Scope::Subtree,
    };
    let attributes: Vec<&str> = if request.attributes.is_empty() {
        vec!["*"]
    } else {
        request.attributes.iter().map(String::as_str).collect()
    };
    let options = SearchOptions::new()
        .sizelimit(clamp(request.size_limit))
        .timelimit(clamp(request.time_limit_seconds));
    let call = ldap.with_timeout(timeout);
    call.with_search_options(options);
    if request.page_size > 0 {
        // Critical: a server that cannot page must say so rather than send
        // everything at once.
        call.with_controls(
            PagedResults {
                size: clamp(request.page_size),
                cookie: request.cookie.clone().unwrap_or_default(),
            }
            .critical(),
        );
    }
    let result = call
        .search(&request.base, scope, &request.filter, attributes)
        .await?;
    let (entries, outcome) = (result.0, result.1);
    if outcome.rc != 0 {
        return Err(Failure::Client(ldap3::LdapError::LdapResult {
            result: outcome,
        }));
    }
    let cookie = outcome
        .ctrls
        .iter()
        .find(|c| matches!(c.0, Some(ControlType::PagedResults)))
        .map(|c| c.1.parse::<PagedResults>().cookie)
        .filter(|cookie| !cookie.is_empty());
    let mut page = SearchPage {
        entries: Vec::with_capacity(entries.len()),
        referrals: Vec::new(),
        cookie,
    };
    let mut bytes = 0usize;
    for entry in entries {
        if entry.is_ref() {
            page.referrals.extend(parse_refs(entry.0));
            continue;
        }
        let entry = SearchEntry::construct(entry);
        let mut attributes: Vec<Attribute> = entry
            .attrs
            .into_iter()
            .map(|(name, values)| Attribute {
                name,
                values: values.into_iter().map(String::into_bytes).collect(),
            })
            .chain(
                entry
                    .bin_attrs
                    .into_iter()
                    .map(|(name, values)| Attribute { name, values }),
            )
            .collect();
        attributes.sort_by(|a, b| a.name.cmp(&b.name));
        bytes += entry.dn.len()
            + attributes
                .iter()
                .map(|a| a.name.len() + a.values.iter().map(Vec::len).sum::<usize>())
                .sum::<usize>();
        if bytes > max_bytes {
            return Err(Failure::Contract(LdapError::Server((
                4,
                format!(
                    "one page of results is over {} MiB: ask for a smaller page size or fewer attributes",
                    max_bytes >> 20
                ),
            ))));
        }
        page.entries.push(Entry {
            dn: entry.dn,
            attributes,
        });
    }
    Ok(page)
}

/// `page` in the packed layout of `packed-page` (see `wit/host.wit`): for
/// each entry, `dn-len dn attribute-count (name-len name value-count
/// (value-len value)*)*`, integers little-endian u32.
pub fn pack(page: SearchPage) -> PackedPage {
    let size: usize = page
        .entries
        .iter()
        .map(|e| {
            8 + e.dn.len()
                + e.attributes
                    .iter()
                    .map(|a| 8 + a.name.len() + a.values.iter().map(|v| 4 + v.len()).sum::<usize>())
                    .sum::<usize>()
        })
        .sum();
    let mut out = Vec::with_capacity(size);
    let put = |out: &mut Vec<u8>, bytes: &[u8]| {
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(bytes);
    };
    for entry in &page.entries {
        put(&mut out, entry.dn.as_bytes());
        out.extend_from_slice(&(entry.attributes.len() as u32).to_le_bytes());
        for attribute in &entry.attributes {
            put(&mut out, attribute.name.as_bytes());
            out.extend_from_slice(&(attribute.values.len() as u32).to_le_bytes());
            for value in &attribute.values {
                put(&mut out, value);
            }
        }
    }
    PackedPage {
        count: page.entries.len() as u32,
        entries: out,
        referrals: page.referrals,
        cookie: page.cookie,
    }
}
