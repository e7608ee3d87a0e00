//! The host's imports, or their test doubles when compiled natively.

pub use crate::bindings::cube::connector::http::{HttpError, Request, Response};
pub(crate) use crate::bindings::cube::connector::ldap::{
    Attribute, ConnectOptions, Entry, LdapError, SearchControl, SearchPage, SearchRequest,
};
pub(crate) use crate::bindings::cube::connector::log::Level;

/// The entries of a `packed-page` (layout in `wit/host.wit`); `None` when
/// the bytes do not hold exactly `count` entries.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) fn unpack(bytes: &[u8], count: u32) -> Option<Vec<Entry>> {
    struct Reader<'a>(&'a [u8]);
    impl<'a> Reader<'a> {
        fn u32(&mut self) -> Option<u32> {
            let (head, rest) = self.0.split_first_chunk::<4>()?;
            self.0 = rest;
            Some(u32::from_le_bytes(*head))
        }
        fn bytes(&mut self) -> Option<&'a [u8]> {
            let len = self.u32()? as usize;
            if len > self.0.len() {
                return None;
            }
            let (head, rest) = self.0.split_at(len);
            self.0 = rest;
            Some(head)
        }
        fn text(&mut self) -> Option<String> {
            String::from_utf8(self.bytes()?.to_vec()).ok()
        }
    }
    let mut reader = Reader(bytes);
    // Each entry takes at least 8 bytes: a count cannot ask for more
    // entries than the bytes could hold.
    let mut entries = Vec::with_capacity((count as usize).min(bytes.len() / 8));
    for _ in 0..count {
        let dn = reader.text()?;
        let attributes_len = reader.u32()? as usize;
        let mut attributes = Vec::with_capacity(attributes_len.min(reader.0.len() / 8));
        for _ in 0..attributes_len {
            let name = reader.text()?;
            let values_len = reader.u32()? as usize;
            let mut values = Vec::with_capacity(values_len.min(reader.0.len() / 4));
            for _ in 0..values_len {
                values.push(reader.bytes()?.to_vec());
            }
            attributes.push(Attribute { name, values });
        }
        entries.push(Entry { dn, attributes });
    }
    reader.0.is_empty().then_some(entries)
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::*;
    use crate::bindings::cube::connector::{http, ldap, log, state};

    pub(crate) type LdapConnection = ldap::Connection;

    pub(crate) fn ldap_open(options: &ConnectOptions) -> Result<LdapConnection, LdapError> {
        ldap::Connection::open(options)
    }

    pub(crate) fn ldap_bind(
        connection: &LdapConnection,
        dn: &str,
        password: &str,
    ) -> Result<(), LdapError> {
        connection.bind(dn, password)
    }

    /// A page through `search-packed`: one copy into the component for the
    /// whole page, decoded here (see [`super::unpack`]). With controls,
    /// through `search-packed-with`; without, through the call every host
    /// has.
    pub(crate) fn ldap_search(
        connection: &LdapConnection,
        request: &SearchRequest,
        controls: &[SearchControl],
    ) -> Result<SearchPage, LdapError> {
        let packed = if controls.is_empty() {
            connection.search_packed(request)?
        } else {
            connection.search_packed_with(request, controls)?
        };
        let entries = super::unpack(&packed.entries, packed.count)
            .ok_or_else(|| LdapError::Connection("the host sent a malformed packed page".into()))?;
        Ok(SearchPage {
            entries,
            referrals: packed.referrals,
            cookie: packed.cookie,
        })
    }

    pub(crate) fn http_send(request: &Request) -> Result<Response, HttpError> {
        http::send(request)
    }

    pub(crate) fn log_write(level: Level, message: &str) {
        log::write(level, message)
    }

    pub(crate) fn state_get(key: &str) -> Option<Vec<u8>> {
        state::get(key)
    }

    pub(crate) fn state_set(key: &str, value: &[u8]) -> Result<(), String> {
        state::set(key, value)
    }

    pub(crate) fn state_delete(key: &str) {
        state::delete(key)
    }

    pub(crate) fn state_list_keys(prefix: &str) -> Vec<String> {
        state::list_keys(prefix)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::*;
    use crate::testing::with_host;

    /// Natively, a connection is only the options it was opened with.
    pub(crate) struct LdapConnection;

    pub(crate) fn ldap_open(_options: &ConnectOptions) -> Result<LdapConnection, LdapError> {
        Ok(LdapConnection)
    }

    pub(crate) fn ldap_bind(
        _connection: &LdapConnection,
        dn: &str,
        password: &str,
    ) -> Result<(), LdapError> {
        with_host(|host| host.ldap_bind(dn, password))
    }

    pub(crate) fn ldap_search(
        _connection: &LdapConnection,
        request: &SearchRequest,
        controls: &[SearchControl],
    ) -> Result<SearchPage, LdapError> {
        with_host(|host| host.ldap_search(request, controls))
    }

    pub(crate) fn http_send(request: &Request) -> Result<Response, HttpError> {
        with_host(|host| host.send(request))
    }

    pub(crate) fn log_write(level: Level, message: &str) {
        with_host(|host| host.log(level, message))
    }

    pub(crate) fn state_get(key: &str) -> Option<Vec<u8>> {
        with_host(|host| host.state.get(key).cloned())
    }

    pub(crate) fn state_set(key: &str, value: &[u8]) -> Result<(), String> {
        with_host(|host| {
            host.state.insert(key.to_owned(), value.to_vec());
            Ok(())
        })
    }

    pub(crate) fn state_delete(key: &str) {
        with_host(|host| {
            host.state.remove(key);
        })
    }

    pub(crate) fn state_list_keys(prefix: &str) -> Vec<String> {
        with_host(|host| {
            host.state
                .keys()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect()
        })
    }
}

pub(crate) use imp::*;

#[cfg(test)]
mod tests {
    use super::*;

    /// An attribute (name, values) and an entry (dn, attributes).
    type Attr<'a> = (&'a str, &'a [&'a [u8]]);
    type EntrySpec<'a> = (&'a str, &'a [Attr<'a>]);

    fn packed(entries: &[EntrySpec]) -> Vec<u8> {
        let mut out = Vec::new();
        let put = |out: &mut Vec<u8>, bytes: &[u8]| {
            out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            out.extend_from_slice(bytes);
        };
        for (dn, attributes) in entries {
            put(&mut out, dn.as_bytes());
            out.extend_from_slice(&(attributes.len() as u32).to_le_bytes());
            for (name, values) in *attributes {
                put(&mut out, name.as_bytes());
                out.extend_from_slice(&(values.len() as u32).to_le_bytes());
                for value in *values {
                    put(&mut out, value);
                }
            }
        }
        out
    }

    #[test]
    fn packed_pages_decode_to_their_entries() {
        let bytes = packed(&[
            (
                "uid=ada,dc=x",
                &[("mail", &[b"ada@x"]), ("objectGUID", &[&[0, 255, 7]])],
            ),
            ("uid=bob,dc=x", &[]),
        ]);
        let entries = unpack(&bytes, 2).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].dn, "uid=ada,dc=x");
        assert_eq!(entries[0].attributes[1].name, "objectGUID");
        assert_eq!(entries[0].attributes[1].values, [vec![0, 255, 7]]);
        assert!(entries[1].attributes.is_empty());
        assert_eq!(unpack(&[], 0).unwrap().len(), 0);
    }

    #[test]
    fn malformed_packed_pages_are_refused_not_trusted() {
        let bytes = packed(&[("uid=ada,dc=x", &[("mail", &[b"ada@x"])])]);
        assert!(unpack(&bytes, 2).is_none(), "fewer entries than counted");
        assert!(unpack(&bytes, 0).is_none(), "bytes left over");
        assert!(unpack(&bytes[..bytes.len() - 1], 1).is_none(), "truncated");
        assert!(
            unpack(&u32::MAX.to_le_bytes(), u32::MAX).is_none(),
            "a huge count"
        );
        let mut not_utf8 = packed(&[("x", &[])]);
        not_utf8[4] = 0xff;
        assert!(unpack(&not_utf8, 1).is_none());
    }
}
