//! The tests' Active Directory: a Samba AD DC (`scripts/test-samba.sh`) for
//! the domain CUBE.TEST on 127.0.0.2, or the next free loopback address (LDAPS on 636), started on first use
//! and shared by every test process of a run. Seeded with `OU=Cube`: ada,
//! grace, linus and the disabled ken; engineers (ada, grace) nested in
//! admins (linus). Tests that change the directory make an OU of their own.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry};

use super::ldap_edit::{add, attr};
pub use super::ldap_edit::{delete_tree, modify};

/// The DC's coordinates, as `scripts/test-samba.sh start` prints them.
fn coordinates() -> &'static HashMap<String, String> {
    static ENV: OnceLock<HashMap<String, String>> = OnceLock::new();
    ENV.get_or_init(|| super::test_service::run("test-samba.sh", &["start"]))
}

pub fn env(name: &str) -> String {
    super::test_service::coordinate(coordinates(), "test-samba.sh", name)
}

/// The PEM of the CA that signed the DC's LDAPS certificate.
pub fn ca_pem() -> String {
    std::fs::read_to_string(env("CUBE_TEST_SAMBA_CA")).unwrap()
}

/// A connection over LDAPS (trusting only the test CA), bound as `dn`.
pub async fn bind(dn: &str, password: &str) -> ldap3::Ldap {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem().as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let settings = LdapConnSettings::new().set_config(Arc::new(tls));
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &env("CUBE_TEST_SAMBA_URL"))
        .await
        .unwrap();
    ldap3::drive!(conn);
    ldap.simple_bind(dn, password)
        .await
        .unwrap()
        .success()
        .unwrap_or_else(|e| panic!("binding as {dn}: {e}"));
    ldap
}

/// A connection bound as the domain's Administrator, to change it.
pub async fn admin() -> ldap3::Ldap {
    bind(
        &env("CUBE_TEST_SAMBA_ADMIN_DN"),
        &env("CUBE_TEST_SAMBA_ADMIN_PASSWORD"),
    )
    .await
}

/// The entries under `base` matching `filter`, with `attributes`.
pub async fn search(
    ldap: &mut ldap3::Ldap,
    base: &str,
    scope: Scope,
    filter: &str,
    attributes: &[&str],
) -> Vec<SearchEntry> {
    let (entries, _) = ldap
        .search(base, scope, filter, attributes.to_vec())
        .await
        .unwrap()
        .success()
        .unwrap_or_else(|e| panic!("searching {base} for {filter}: {e}"));
    entries.into_iter().map(SearchEntry::construct).collect()
}

/// One attribute's first value, raw (`objectGUID`, `invocationId`).
pub async fn read_binary(ldap: &mut ldap3::Ldap, dn: &str, attribute: &str) -> Vec<u8> {
    let entry = search(ldap, dn, Scope::Base, "(objectClass=*)", &[attribute])
        .await
        .pop()
        .unwrap_or_else(|| panic!("no {dn}"));
    entry
        .bin_attrs
        .get(attribute)
        .and_then(|v| v.first())
        .cloned()
        .unwrap_or_else(|| panic!("{dn} has no binary {attribute}: {entry:?}"))
}

/// One attribute's first value, as text (`uSNChanged`, `dsServiceName`).
pub async fn read_text(ldap: &mut ldap3::Ldap, dn: &str, attribute: &str) -> String {
    let entry = search(ldap, dn, Scope::Base, "(objectClass=*)", &[attribute])
        .await
        .pop()
        .unwrap_or_else(|| panic!("no {dn}"));
    entry
        .attrs
        .get(attribute)
        .and_then(|v| v.first())
        .cloned()
        .unwrap_or_else(|| panic!("{dn} has no {attribute}: {entry:?}"))
}

/// The canonical text of a GUID as AD stores it (the first three groups
/// little-endian), written out independently of the connector's code.
pub fn guid_text(bytes: &[u8]) -> String {
    assert_eq!(bytes.len(), 16, "a GUID: {bytes:?}");
    let hex = |range: &[usize]| -> String {
        range.iter().map(|&i| format!("{:02x}", bytes[i])).collect()
    };
    format!(
        "{}-{}-{}-{}-{}",
        hex(&[3, 2, 1, 0]),
        hex(&[5, 4]),
        hex(&[7, 6]),
        hex(&[8, 9]),
        hex(&[10, 11, 12, 13, 14, 15])
    )
}

/// `samba-tool user show NAME`'s objectGUID: Samba's own rendering, read
/// from the DC's database.
pub fn samba_tool_guid(name: &str) -> String {
    let output = std::process::Command::new("samba-tool")
        .args(["user", "show", name, "--attributes=objectGUID", "-s"])
        .arg(env("CUBE_TEST_SAMBA_SMB_CONF"))
        .output()
        .expect("running samba-tool");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "samba-tool user show {name}: {text} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    text.lines()
        .find_map(|l| l.strip_prefix("objectGUID: "))
        .unwrap_or_else(|| panic!("no objectGUID in {text}"))
        .trim()
        .to_owned()
}

/// A password as AD takes it: `unicodePwd`, the quoted text in UTF-16LE
/// (only over an encrypted connection).
pub fn unicode_pwd(password: &str) -> Vec<u8> {
    format!("\"{password}\"")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// Adds `OU=name` under the domain's root, after removing what an earlier
/// run left there; returns its DN.
pub async fn scratch_ou(ldap: &mut ldap3::Ldap, name: &str) -> String {
    let dn = format!("OU={name},{}", env("CUBE_TEST_SAMBA_BASE"));
    delete_tree(ldap, &dn).await;
    add(
        ldap,
        &dn,
        vec![
            attr("objectClass", &[b"organizationalUnit"]),
            attr("ou", &[name.as_bytes()]),
        ],
    )
    .await;
    dn
}

/// Adds the user `CN=name,ou` (`sAMAccountName` name, a password set in
/// the same add, enabled: userAccountControl 512); returns its DN.
pub async fn add_user(ldap: &mut ldap3::Ldap, ou: &str, name: &str) -> String {
    let dn = format!("CN={name},{ou}");
    let upn = format!("{name}@cube.test");
    let display = format!("User {name}");
    let password = unicode_pwd(&env("CUBE_TEST_SAMBA_USER_PASSWORD"));
    add(
        ldap,
        &dn,
        vec![
            attr(
                "objectClass",
                &[b"top", b"person", b"organizationalPerson", b"user"],
            ),
            attr("sAMAccountName", &[name.as_bytes()]),
            attr("userPrincipalName", &[upn.as_bytes()]),
            attr("mail", &[upn.as_bytes()]),
            attr("displayName", &[display.as_bytes()]),
            attr("unicodePwd", &[&password]),
            attr("userAccountControl", &[b"512"]),
        ],
    )
    .await;
    dn
}

/// Adds the global security group `CN=name,ou` with `members`; returns its DN.
pub async fn add_group(ldap: &mut ldap3::Ldap, ou: &str, name: &str, members: &[&str]) -> String {
    let dn = format!("CN={name},{ou}");
    let members: Vec<&[u8]> = members.iter().map(|m| m.as_bytes()).collect();
    let mut attributes = vec![
        attr("objectClass", &[b"top", b"group"]),
        attr("sAMAccountName", &[name.as_bytes()]),
    ];
    if !members.is_empty() {
        attributes.push(attr("member", &members));
    }
    add(ldap, &dn, attributes).await;
    dn
}
