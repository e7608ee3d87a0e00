//! The seed directory: users under `OU=People`, groups of the first N of
//! them under `OU=Groups`, and their DNs and objectGUIDs.

use super::{BASE, Entry, PERSON};

/// An attribute with one text value.
pub fn text(name: &str, value: &str) -> (String, Vec<Vec<u8>>) {
    (name.to_owned(), vec![value.as_bytes().to_vec()])
}

/// A GUID's 16 bytes made from a number.
fn guid(n: u64) -> Vec<u8> {
    let mut bytes = vec![0x5a; 8];
    bytes.extend_from_slice(&n.to_be_bytes());
    bytes
}

/// The DN of user `i`.
pub fn user_dn(i: usize) -> String {
    format!("CN=user{i:05},OU=People,{BASE}")
}

/// The canonical objectGUID text of user `i`, as the connector stores it.
pub fn user_id(i: usize) -> String {
    let b = guid(i as u64);
    // objectGUID's first three fields are little-endian.
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{}",
        b[3],
        b[2],
        b[1],
        b[0],
        b[5],
        b[4],
        b[7],
        b[6],
        b[8],
        b[9],
        b[10..]
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>()
    )
}

/// A directory of `users` users and one group per entry of `groups`
/// (name, members: the first N users), then `fillers` groups of one member.
pub fn directory(users: usize, groups: &[(&str, usize)], fillers: usize) -> Vec<Entry> {
    let mut usn = 10_000u64;
    let mut next = || {
        usn += 1;
        usn.to_string()
    };
    let mut entries = Vec::new();
    for dn in [
        BASE.to_owned(),
        format!("OU=People,{BASE}"),
        format!("OU=Groups,{BASE}"),
    ] {
        entries.push(Entry {
            dn,
            attributes: vec![
                text("objectClass", "organizationalUnit"),
                text("uSNCreated", "5000"),
            ],
        });
    }
    for i in 0..users {
        entries.push(Entry {
            dn: user_dn(i),
            attributes: vec![
                (
                    "objectClass".into(),
                    ["top", "person", "organizationalPerson", "user"]
                        .iter()
                        .map(|c| c.as_bytes().to_vec())
                        .collect(),
                ),
                text("objectCategory", PERSON),
                ("objectGUID".into(), vec![guid(i as u64)]),
                text("sAMAccountName", &format!("user{i:05}")),
                text("userAccountControl", "512"),
                text("uSNChanged", &next()),
            ],
        });
    }
    let fill: Vec<(String, usize)> = (0..fillers).map(|i| (format!("filler{i:03}"), 1)).collect();
    let all = groups
        .iter()
        .map(|(name, n)| ((*name).to_owned(), *n))
        .chain(fill);
    for (g, (name, members)) in all.enumerate() {
        entries.push(Entry {
            dn: format!("CN={name},OU=Groups,{BASE}"),
            attributes: vec![
                (
                    "objectClass".into(),
                    vec![b"top".to_vec(), b"group".to_vec()],
                ),
                ("objectGUID".into(), vec![guid(1_000_000 + g as u64)]),
                text("sAMAccountName", &name),
                (
                    "member".into(),
                    (0..members).map(|i| user_dn(i).into_bytes()).collect(),
                ),
                text("uSNChanged", &next()),
            ],
        });
    }
    entries
}
