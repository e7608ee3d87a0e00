//! Changing the tests' directory (`common::slapd`) as its administrator:
//! a subtree per test, AD-like users and groups with fresh objectGUIDs.

use std::collections::HashSet;

use super::slapd;

/// The `employeeType` of every user added here, so that a test reading the
/// shared tree can leave out what other tests add meanwhile.
pub const SCRATCH: &str = "scratch";

/// A subtree of the test directory for one test (`ou=NAME-RUN` with
/// `ou=people`, `ou=moved` and `ou=groups`, RUN new on each call); returns
/// its DN. Left-overs of earlier runs are removed first.
///
/// Each run gets DNs of its own because slapd's referential integrity
/// overlay takes deleted DNs out of groups in the background: deleting a
/// left-over tree and creating the same DNs again would let it take them
/// out of the new groups too, at random.
pub async fn subtree(ldap: &mut ldap3::Ldap, name: &str) -> String {
    let base = slapd::env("CUBE_TEST_LDAP_BASE");
    let (earlier, _) = ldap
        .search(
            &base,
            ldap3::Scope::OneLevel,
            &format!("(|(ou={name})(ou={name}-*))"),
            vec!["1.1"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    for entry in earlier {
        delete_tree(ldap, &ldap3::SearchEntry::construct(entry).dn).await;
    }
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros();
    let ou = format!("{name}-{run:x}");
    let root = format!("ou={ou},{base}");
    for (dn, ou) in [
        (root.clone(), ou.as_str()),
        (format!("ou=people,{root}"), "people"),
        (format!("ou=moved,{root}"), "moved"),
        (format!("ou=groups,{root}"), "groups"),
    ] {
        let attributes = vec![
            attr("objectClass", &[b"organizationalUnit"]),
            attr("ou", &[ou.as_bytes()]),
        ];
        add(ldap, &dn, attributes).await;
    }
    root
}

/// Deletes `root` and everything under it.
pub async fn delete_tree(ldap: &mut ldap3::Ldap, root: &str) {
    let Ok(found) = ldap
        .search(root, ldap3::Scope::Subtree, "(objectClass=*)", vec!["1.1"])
        .await
        .and_then(|r| r.success())
    else {
        return;
    };
    let mut dns: Vec<String> = found
        .0
        .into_iter()
        .map(|e| ldap3::SearchEntry::construct(e).dn)
        .collect();
    // Children before their parents.
    dns.sort_by_key(|dn| std::cmp::Reverse(dn.matches(',').count()));
    for dn in dns {
        ldap.delete(&dn).await.unwrap().success().unwrap();
    }
}

/// A 16-byte id no earlier run used for `dn`.
pub fn fresh_guid(dn: &str) -> [u8; 16] {
    use sha2::Digest;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    sha2::Sha256::digest(format!("{dn}/{nanos}"))[..16]
        .try_into()
        .unwrap()
}

/// An attribute and its values, as ldap3 adds them.
pub fn attr(name: &str, values: &[&[u8]]) -> (Vec<u8>, HashSet<Vec<u8>>) {
    (
        name.as_bytes().to_vec(),
        values.iter().map(|v| v.to_vec()).collect(),
    )
}

pub async fn add(ldap: &mut ldap3::Ldap, dn: &str, attributes: Vec<(Vec<u8>, HashSet<Vec<u8>>)>) {
    ldap.add(dn, attributes)
        .await
        .unwrap()
        .success()
        .unwrap_or_else(|e| panic!("adding {dn}: {e}"));
}

/// Adds an AD-like user with a password; `enabled` false sets
/// ACCOUNTDISABLE in userAccountControl.
pub async fn add_user(ldap: &mut ldap3::Ldap, dn: &str, name: &str, password: &str, enabled: bool) {
    let guid = fresh_guid(dn);
    let control: &[u8] = if enabled { b"512" } else { b"514" };
    let mail = format!("{name}@example.com");
    let attributes = vec![
        attr(
            "objectClass",
            &[
                b"top",
                b"person",
                b"organizationalPerson",
                b"inetOrgPerson",
                b"user",
            ],
        ),
        attr("uid", &[name.as_bytes()]),
        attr("cn", &[name.as_bytes()]),
        attr("sn", &[name.as_bytes()]),
        attr("sAMAccountName", &[name.as_bytes()]),
        attr("mail", &[mail.as_bytes()]),
        attr("userAccountControl", &[control]),
        attr("userPassword", &[password.as_bytes()]),
        // Tests that read the shared base leave these out.
        attr("employeeType", &[SCRATCH.as_bytes()]),
        attr("objectGUID", &[&guid]),
    ];
    add(ldap, dn, attributes).await;
}

pub async fn add_group(ldap: &mut ldap3::Ldap, dn: &str, name: &str, members: &[&str]) {
    let guid = fresh_guid(dn);
    let mut attributes = vec![
        attr("objectClass", &[b"top", b"group"]),
        attr("cn", &[name.as_bytes()]),
        attr("sAMAccountName", &[name.as_bytes()]),
        attr("objectGUID", &[&guid]),
    ];
    if !members.is_empty() {
        let members: Vec<&[u8]> = members.iter().map(|m| m.as_bytes()).collect();
        attributes.push(attr("member", &members));
    }
    add(ldap, dn, attributes).await;
}
