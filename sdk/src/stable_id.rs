//! The text of a directory entry's stable id, the same in every program
//! that reads it.
//!
//! A connector stores each user and group under its stable id (an
//! `objectGUID`, an `entryUUID`) as text; the host reads the same attribute
//! again when someone signs in, to check that the account behind a DN is
//! still the one that was synced. Both must turn the attribute's bytes into
//! exactly the same text, so the rule lives here, once.

/// Attributes that hold a GUID in Active Directory's binary form.
const BINARY_GUIDS: [&str; 3] = ["objectGUID", "invocationId", "msDS-ConsistencyGuid"];

/// The canonical text of a GUID stored the way Active Directory stores
/// `objectGUID`: the first three groups little-endian, the rest as is.
pub fn guid_text(bytes: &[u8]) -> Option<String> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let b: &[u8; 16] = bytes.try_into().ok()?;
    // Written byte by byte, not with `format!`: every user has one.
    let order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
    let mut text = String::with_capacity(36);
    for (i, &at) in order.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            text.push('-');
        }
        text.push(char::from(HEX[usize::from(b[at] >> 4)]));
        text.push(char::from(HEX[usize::from(b[at] & 0xf)]));
    }
    Some(text)
}

/// The stable id `value` of `attribute` as text: a binary GUID in its
/// canonical text, else the value's text (lowercased: UUIDs compare
/// case-insensitively). `None` for an empty or unreadable value.
pub fn text_of(attribute: &str, value: &[u8]) -> Option<String> {
    let printable = value.iter().all(|b| (0x20..0x7f).contains(b));
    if value.len() == 16
        && (!printable
            || BINARY_GUIDS
                .iter()
                .any(|n| n.eq_ignore_ascii_case(attribute)))
    {
        return guid_text(value);
    }
    let text = std::str::from_utf8(value).ok()?.trim();
    (!text.is_empty()).then(|| text.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_read_in_active_directorys_byte_order() {
        // The first three groups reversed, the last two as stored.
        let bytes = [
            0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,
            0x0f, 0x10,
        ];
        assert_eq!(
            guid_text(&bytes).unwrap(),
            "04030201-0605-0807-090a-0b0c0d0e0f10"
        );
        assert_eq!(text_of("objectGUID", &bytes), guid_text(&bytes));
        assert_eq!(guid_text(&bytes[..15]), None);
        assert_eq!(text_of("entryUUID", b" ABC-1 ").unwrap(), "abc-1");
        assert_eq!(text_of("entryUUID", b""), None);
    }
}
