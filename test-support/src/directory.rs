//! Changing the tests' directory (`common::slapd`) as its administrator:
//! a subtree per test, AD-like users and groups with fresh objectGUIDs,
//! and changes to them.

use super::slapd;

pub use super::ldap_edit::{add, attr, delete_tree, modify};

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

/// A test's own subtree (see [`subtree`]) on a connection bound as the
/// directory's administrator, holding users and groups named
/// `PREFIX-NAME`: `uid=PREFIX-NAME,ou=people,ROOT` and
/// `cn=PREFIX-NAME,ou=groups,ROOT`.
pub struct Scratch {
    pub ldap: ldap3::Ldap,
    pub prefix: String,
    pub root: String,
}

impl Scratch {
    /// A new subtree named after `prefix`.
    pub async fn new(prefix: &str) -> Scratch {
        let mut ldap = slapd::admin().await;
        let root = subtree(&mut ldap, prefix).await;
        Scratch {
            ldap,
            prefix: prefix.to_owned(),
            root,
        }
    }

    /// `PREFIX-NAME`
    pub fn name(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    /// The DN of the user `PREFIX-NAME`.
    pub fn user_dn(&self, name: &str) -> String {
        format!("uid={},ou=people,{}", self.name(name), self.root)
    }

    /// Adds the user `PREFIX-NAME` (see [`add_user`]); returns its DN.
    pub async fn add_user(&mut self, name: &str, password: &str, enabled: bool) -> String {
        let (dn, name) = (self.user_dn(name), self.name(name));
        add_user(&mut self.ldap, &dn, &name, password, enabled).await;
        dn
    }

    /// Adds the group `PREFIX-NAME` holding the entries `members`; returns
    /// its DN.
    pub async fn add_group(&mut self, name: &str, members: &[&str]) -> String {
        let name = self.name(name);
        let dn = format!("cn={name},ou=groups,{}", self.root);
        add_group(&mut self.ldap, &dn, &name, members).await;
        dn
    }

    /// Deletes the subtree and everything in it.
    pub async fn delete(mut self) {
        delete_tree(&mut self.ldap, &self.root).await;
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
