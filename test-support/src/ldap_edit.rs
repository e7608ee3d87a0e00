//! Changing an LDAP directory over an administrator's connection, the same
//! way for both test directories (slapd in `common::directory`, the Samba
//! AD DC in `common::samba`): adding an entry, changing one, and deleting
//! a subtree.

use std::collections::HashSet;

/// An attribute and its values, as ldap3 adds them.
pub fn attr(name: &str, values: &[&[u8]]) -> (Vec<u8>, HashSet<Vec<u8>>) {
    (
        name.as_bytes().to_vec(),
        values.iter().map(|v| v.to_vec()).collect(),
    )
}

/// Adds the entry `dn` with `attributes`.
pub async fn add(ldap: &mut ldap3::Ldap, dn: &str, attributes: Vec<(Vec<u8>, HashSet<Vec<u8>>)>) {
    ldap.add(dn, attributes)
        .await
        .unwrap()
        .success()
        .unwrap_or_else(|e| panic!("adding {dn}: {e}"));
}

/// Applies `mods` to the entry `dn`.
pub async fn modify(ldap: &mut ldap3::Ldap, dn: &str, mods: Vec<ldap3::Mod<&str>>) {
    ldap.modify(dn, mods)
        .await
        .unwrap()
        .success()
        .unwrap_or_else(|e| panic!("modifying {dn}: {e}"));
}

/// Deletes `root` and everything under it (nothing if it is not there).
pub async fn delete_tree(ldap: &mut ldap3::Ldap, root: &str) {
    let Ok((found, _)) = ldap
        .search(root, ldap3::Scope::Subtree, "(objectClass=*)", vec!["1.1"])
        .await
        .and_then(|r| r.success())
    else {
        return;
    };
    let mut dns: Vec<String> = found
        .into_iter()
        .map(|e| ldap3::SearchEntry::construct(e).dn)
        .collect();
    // Children before their parents.
    dns.sort_by_key(|dn| std::cmp::Reverse(dn.matches(',').count()));
    for dn in dns {
        ldap.delete(&dn).await.unwrap().success().unwrap();
    }
}
