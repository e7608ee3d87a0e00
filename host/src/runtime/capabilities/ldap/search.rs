//! One page of a search: the request as ldap3 wants it, the answer as the
//! contract gives it (raw attribute values, referrals, the next cookie),
//! either as entries or packed into one byte list.
//!
//! Entries are read straight from the BER the server sent ([`parts`]):
//! ldap3's `SearchEntry` would build a map and a `String` per value first
//! (7% of a directory sync's time) and panics on malformed input, where a
//! broken server must get an error.

use std::time::Duration;

use ldap3::asn1::{PL, StructureTag};
use ldap3::controls::{ControlType, MakeCritical, PagedResults, RawControl};
use ldap3::{Ldap, Scope, SearchOptions, parse_refs};

use crate::runtime::bindings::cube::connector::ldap::{
    self as wit, Attribute, Entry, LdapError, PackedPage, SearchControl, SearchPage, SearchRequest,
};

/// Active Directory's LDAP_SERVER_SHOW_DELETED_OID.
const SHOW_DELETED: &str = "1.2.840.113556.1.4.417";

/// The control the host sends for a `search-control` a connector named:
/// the contract's enum is the whole list, so nothing else can be sent.
/// Critical, so a server that does not know it refuses the search (12)
/// rather than answer as if it had not been asked.
fn raw(control: SearchControl) -> RawControl {
    match control {
        SearchControl::ShowDeleted => RawControl {
            ctype: SHOW_DELETED.to_owned(),
            crit: true,
            val: None,
        },
    }
}

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

/// How the connector wants a page: `search` or `search-packed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Entries,
    Packed,
}

/// A page in the shape asked for.
pub enum Page {
    Entries(SearchPage),
    Packed(PackedPage),
}

impl Page {
    /// The cookie for the next page, if there is one.
    pub fn cookie(&self) -> Option<&Vec<u8>> {
        match self {
            Page::Entries(page) => page.cookie.as_ref(),
            Page::Packed(page) => page.cookie.as_ref(),
        }
    }
}

fn clamp(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Runs one page of `request`, with `controls`, on `ldap` and shapes its
/// answer.
pub async fn run(
    ldap: &mut Ldap,
    request: &SearchRequest,
    controls: &[SearchControl],
    shape: Shape,
    timeout: Duration,
    max_bytes: usize,
) -> Result<Page, Failure> {
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
    let mut sent: Vec<RawControl> = controls.iter().map(|c| raw(*c)).collect();
    if request.page_size > 0 {
        // Critical: a server that cannot page must say so rather than send
        // everything at once.
        sent.push(
            PagedResults {
                size: clamp(request.page_size),
                cookie: request.cookie.clone().unwrap_or_default(),
            }
            .critical()
            .into(),
        );
    }
    if !sent.is_empty() {
        call.with_controls(sent);
    }
    let result = call
        .search(&request.base, scope, &request.filter, attributes)
        .await?;
    let (answers, outcome) = (result.0, result.1);
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
    let mut referrals = Vec::new();
    let mut entries = Vec::with_capacity(answers.len());
    for answer in answers {
        if answer.is_ref() {
            referrals.extend(parse_refs(answer.0));
        } else {
            entries.push(answer);
        }
    }
    let mut bytes = 0usize;
    let mut check = |parts: &Parts| {
        bytes += parts.size();
        if bytes > max_bytes {
            return Err(contract(format!(
                "one page of results is over {} MiB: ask for a smaller page size or fewer attributes",
                max_bytes >> 20
            )));
        }
        Ok(())
    };
    Ok(match shape {
        Shape::Entries => {
            let mut page = SearchPage {
                entries: Vec::with_capacity(entries.len()),
                referrals,
                cookie,
            };
            for entry in &entries {
                let parts = parts(&entry.0)?;
                check(&parts)?;
                page.entries.push(parts.entry()?);
            }
            Page::Entries(page)
        }
        Shape::Packed => {
            let mut out = Vec::new();
            for entry in &entries {
                let parts = parts(&entry.0)?;
                check(&parts)?;
                parts.pack(&mut out);
            }
            Page::Packed(PackedPage {
                count: entries.len() as u32,
                entries: out,
                referrals,
                cookie,
            })
        }
    })
}

fn contract(message: String) -> Failure {
    // LDAP's protocolError (2) when the answer cannot be read; the
    // connector reads `server` errors as the directory's.
    Failure::Contract(LdapError::Server((2, message)))
}

/// An entry's DN and attributes, borrowed from its BER, attributes sorted
/// by name (as `search` promises).
struct Parts<'a> {
    dn: &'a [u8],
    attributes: Vec<(&'a [u8], Vec<&'a [u8]>)>,
}

fn constructed(tag: &StructureTag) -> Option<&[StructureTag]> {
    match &tag.payload {
        PL::C(inner) => Some(inner),
        PL::P(_) => None,
    }
}

fn primitive(tag: &StructureTag) -> Option<&[u8]> {
    match &tag.payload {
        PL::P(bytes) => Some(bytes),
        PL::C(_) => None,
    }
}

/// Reads a SearchResultEntry (RFC 4511 4.5.2): `[APPLICATION 4] SEQUENCE
/// { objectName, attributes SEQUENCE OF SEQUENCE { type, vals SET OF value } }`.
fn parts(tag: &StructureTag) -> Result<Parts<'_>, Failure> {
    let malformed =
        || contract("the server sent a search result entry that is not valid LDAP".into());
    let [name, list] = (tag.id == 4)
        .then(|| constructed(tag))
        .flatten()
        .ok_or_else(malformed)?
    else {
        return Err(malformed());
    };
    let dn = primitive(name).ok_or_else(malformed)?;
    let list = constructed(list).ok_or_else(malformed)?;
    let mut attributes = Vec::with_capacity(list.len());
    for attribute in list {
        let [kind, values] = constructed(attribute).ok_or_else(malformed)? else {
            return Err(malformed());
        };
        let kind = primitive(kind).ok_or_else(malformed)?;
        let values = constructed(values)
            .ok_or_else(malformed)?
            .iter()
            .map(|v| primitive(v).ok_or_else(malformed))
            .collect::<Result<Vec<_>, _>>()?;
        attributes.push((kind, values));
    }
    attributes.sort_by(|a, b| a.0.cmp(b.0));
    Ok(Parts { dn, attributes })
}

impl Parts<'_> {
    /// The bytes of entry data (DN, names, values) it brings in.
    fn size(&self) -> usize {
        self.dn.len()
            + self
                .attributes
                .iter()
                .map(|(name, values)| name.len() + values.iter().map(|v| v.len()).sum::<usize>())
                .sum::<usize>()
    }

    fn entry(&self) -> Result<Entry, Failure> {
        let text = |bytes: &[u8]| {
            String::from_utf8(bytes.to_vec()).map_err(|_| {
                contract("the server sent a DN or attribute name that is not UTF-8".into())
            })
        };
        Ok(Entry {
            dn: text(self.dn)?,
            attributes: self
                .attributes
                .iter()
                .map(|(name, values)| {
                    Ok(Attribute {
                        name: text(name)?,
                        values: values.iter().map(|v| v.to_vec()).collect(),
                    })
                })
                .collect::<Result<_, Failure>>()?,
        })
    }

    /// Appends the entry in the layout of `packed-page` (see
    /// `wit/host.wit`): `dn-len dn attribute-count (name-len name
    /// value-count (value-len value)*)*`, integers little-endian u32.
    fn pack(&self, out: &mut Vec<u8>) {
        let put = |out: &mut Vec<u8>, bytes: &[u8]| {
            out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            out.extend_from_slice(bytes);
        };
        out.reserve(8 + self.size() + 8 * self.attributes.len());
        put(out, self.dn);
        out.extend_from_slice(&(self.attributes.len() as u32).to_le_bytes());
        for (name, values) in &self.attributes {
            put(out, name);
            out.extend_from_slice(&(values.len() as u32).to_le_bytes());
            for value in values {
                put(out, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3::asn1::TagClass;

    fn tag(id: u64, payload: PL) -> StructureTag {
        StructureTag {
            class: TagClass::Universal,
            id,
            payload,
        }
    }

    fn octets(s: &[u8]) -> StructureTag {
        tag(4, PL::P(s.to_vec()))
    }

    fn attribute(name: &str, values: &[&[u8]]) -> StructureTag {
        tag(
            16,
            PL::C(vec![
                octets(name.as_bytes()),
                tag(17, PL::C(values.iter().map(|v| octets(v)).collect())),
            ]),
        )
    }

    fn entry(dn: &str, attributes: Vec<StructureTag>) -> StructureTag {
        tag(
            4,
            PL::C(vec![octets(dn.as_bytes()), tag(16, PL::C(attributes))]),
        )
    }

    #[test]
    fn entries_read_from_ber_sort_attributes_and_keep_binary_values() {
        let raw = entry(
            "uid=ada,dc=example",
            vec![
                attribute("uid", &[b"ada"]),
                attribute("objectGUID", &[&[0xff, 0x00, 0x10]]),
                attribute("mail", &[b"ada@example.com", b"a@example.com"]),
            ],
        );
        let parts = parts(&raw).ok().unwrap();
        let entry = parts.entry().ok().unwrap();
        assert_eq!(entry.dn, "uid=ada,dc=example");
        let names: Vec<&str> = entry.attributes.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["mail", "objectGUID", "uid"]);
        assert_eq!(entry.attributes[1].values, [vec![0xff, 0x00, 0x10]]);
        assert_eq!(entry.attributes[0].values.len(), 2);
        assert_eq!(parts.size(), 18 + 4 + 28 + 10 + 3 + 3 + 3);

        let mut packed = Vec::new();
        parts.pack(&mut packed);
        assert_eq!(&packed[..4], &18u32.to_le_bytes());
        assert_eq!(&packed[4..22], b"uid=ada,dc=example");
        assert_eq!(&packed[22..26], &3u32.to_le_bytes(), "three attributes");
        assert_eq!(&packed[26..30], &4u32.to_le_bytes());
        assert_eq!(&packed[30..34], b"mail");
    }

    #[test]
    fn malformed_entries_are_errors_not_panics() {
        let not_an_entry = tag(5, PL::C(Vec::new()));
        let primitive_attributes = tag(4, PL::C(vec![octets(b"cn=x"), octets(b"oops")]));
        let value_not_octets = entry(
            "cn=x",
            vec![tag(16, PL::C(vec![octets(b"cn"), octets(b"x")]))],
        );
        let bad_utf8_dn = entry("cn=x", Vec::new());
        for raw in [&not_an_entry, &primitive_attributes, &value_not_octets] {
            assert!(matches!(
                parts(raw),
                Err(Failure::Contract(LdapError::Server((2, m)))) if m.contains("not valid LDAP")
            ));
        }
        let mut parts = parts(&bad_utf8_dn).ok().unwrap();
        parts.dn = &[0xc3, 0x28];
        assert!(matches!(
            parts.entry(),
            Err(Failure::Contract(LdapError::Server((2, m)))) if m.contains("not UTF-8")
        ));
    }
}
