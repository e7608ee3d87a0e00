//! The connector's configuration, its JSON Schema (which the host turns
//! into the setup form and wizard steps), and the two attribute presets.

use cube_connector_sdk::ldap::TlsMode;
use serde::Deserialize;
use serde_json::{Value, json};

/// How the connection is secured.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Tls {
    /// `ldap://`, upgraded with StartTLS before the bind.
    #[default]
    Starttls,
    /// `ldaps://`: TLS from the first byte.
    Ldaps,
    /// No TLS at all: passwords cross the network in clear.
    None,
}

/// Which directory's attribute names to use by default.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum Preset {
    #[default]
    #[serde(rename = "active-directory")]
    ActiveDirectory,
    #[serde(rename = "openldap")]
    OpenLdap,
}

/// How changes are found for incremental syncs.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ChangeTracking {
    /// `usn` when the server announces `highestCommittedUSN` (Active
    /// Directory), else `csn` when the base's naming context has a
    /// `contextCSN` (OpenLDAP), else `timestamp`.
    #[default]
    Auto,
    Usn,
    Csn,
    Timestamp,
}

fn default_page_size() -> u32 {
    500
}

fn default_timeout() -> u32 {
    30
}

#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    pub server: String,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: Tls,
    #[serde(default)]
    pub ca_pem: String,
    #[serde(default)]
    pub bind_dn: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub base_dn: String,
    #[serde(default)]
    pub user_base: String,
    #[serde(default)]
    pub user_filter: String,
    #[serde(default)]
    pub group_base: String,
    #[serde(default)]
    pub group_filter: String,
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    #[serde(default)]
    pub preset: Preset,
    #[serde(default)]
    pub change_tracking: ChangeTracking,
    #[serde(default)]
    pub id_attribute: String,
    #[serde(default)]
    pub username_attribute: String,
    #[serde(default)]
    pub email_attribute: String,
    #[serde(default)]
    pub display_name_attribute: String,
    #[serde(default)]
    pub member_attribute: String,
    #[serde(default)]
    pub disabled_attribute: String,
    #[serde(default)]
    pub disabled_values: String,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u32,
}

/// The attribute names in use: the preset's, with the configured overrides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttributeMap {
    /// The stable id (`objectGUID`, binary; `entryUUID`, text).
    pub id: String,
    pub username: String,
    pub email: String,
    pub display_name: String,
    pub first_name: String,
    pub last_name: String,
    /// `userPrincipalName` on Active Directory.
    pub principal_name: Option<String>,
    /// A group's members, as DNs.
    pub member: String,
    pub group_name: String,
    pub description: String,
    /// How a disabled account is recognised.
    pub disabled: Disabled,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Disabled {
    /// Active Directory: bit 0x2 (ACCOUNTDISABLE) of `userAccountControl`.
    AccountControl,
    /// Disabled when the attribute is present (no values listed) or holds
    /// one of the values (compared case-insensitively).
    Attribute { name: String, values: Vec<String> },
    /// Accounts are never disabled.
    Never,
}

fn or(configured: &str, default: &str) -> String {
    let configured = configured.trim();
    if configured.is_empty() {
        default.to_owned()
    } else {
        configured.to_owned()
    }
}

impl Config {
    /// The server's URL.
    pub fn url(&self) -> String {
        let (scheme, default_port) = match self.tls {
            Tls::Ldaps => ("ldaps", 636),
            Tls::Starttls | Tls::None => ("ldap", 389),
        };
        let host = self.server.trim();
        let host = host
            .strip_prefix("ldaps://")
            .or_else(|| host.strip_prefix("ldap://"))
            .unwrap_or(host)
            .trim_end_matches('/');
        let bracketed = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        format!(
            "{scheme}://{bracketed}:{}",
            self.port.unwrap_or(default_port)
        )
    }

    pub fn tls_mode(&self) -> TlsMode {
        match self.tls {
            Tls::Starttls => TlsMode::StartTls,
            Tls::Ldaps => TlsMode::Ldaps,
            Tls::None => TlsMode::None,
        }
    }

    pub fn user_base(&self) -> &str {
        non_empty(&self.user_base).unwrap_or(self.base_dn.trim())
    }

    pub fn group_base(&self) -> &str {
        non_empty(&self.group_base).unwrap_or(self.base_dn.trim())
    }

    pub fn user_filter(&self) -> String {
        or(
            &self.user_filter,
            match self.preset {
                Preset::ActiveDirectory => "(&(objectClass=user)(objectCategory=person))",
                Preset::OpenLdap => "(objectClass=inetOrgPerson)",
            },
        )
    }

    pub fn group_filter(&self) -> String {
        or(
            &self.group_filter,
            match self.preset {
                Preset::ActiveDirectory => "(objectClass=group)",
                Preset::OpenLdap => "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))",
            },
        )
    }

    /// Entries per page, within what servers accept.
    pub fn page_size(&self) -> u32 {
        self.page_size.clamp(1, 5000)
    }

    pub fn attributes(&self) -> AttributeMap {
        let ad = self.preset == Preset::ActiveDirectory;
        let disabled = if !self.disabled_attribute.trim().is_empty() {
            Disabled::Attribute {
                name: self.disabled_attribute.trim().to_owned(),
                values: self
                    .disabled_values
                    .split(',')
                    .map(|v| v.trim().to_owned())
                    .filter(|v| !v.is_empty())
                    .collect(),
            }
        } else if ad {
            Disabled::AccountControl
        } else {
            Disabled::Never
        };
        AttributeMap {
            id: or(
                &self.id_attribute,
                if ad { "objectGUID" } else { "entryUUID" },
            ),
            username: or(
                &self.username_attribute,
                if ad { "sAMAccountName" } else { "uid" },
            ),
            email: or(&self.email_attribute, "mail"),
            display_name: or(
                &self.display_name_attribute,
                if ad { "displayName" } else { "cn" },
            ),
            first_name: "givenName".into(),
            last_name: "sn".into(),
            principal_name: ad.then(|| "userPrincipalName".to_owned()),
            member: or(&self.member_attribute, "member"),
            group_name: if ad { "sAMAccountName" } else { "cn" }.into(),
            description: "description".into(),
            disabled,
        }
    }
}

fn non_empty(s: &str) -> Option<&str> {
    let s = s.trim();
    (!s.is_empty()).then_some(s)
}

/// The configuration's JSON Schema, in the wizard's steps.
pub fn schema() -> Value {
    json!({
        "type": "object",
        "required": ["server", "tls", "bind_dn", "password", "base_dn"],
        // The wizard tests the bind after its step, and previews what the
        // search bases match after theirs.
        "x-cube-checks": ["Bind", "Search"],
        "properties": {
            "server": {"type": "string", "title": "Server", "x-cube-step": "Server",
                "description": "Host name of a domain controller or LDAP server (dc1.corp.example)."},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535, "title": "Port", "x-cube-step": "Server",
                "description": "Leave empty for 389 (StartTLS, none) or 636 (LDAPS)."},
            "tls": {"enum": ["starttls", "ldaps", "none"], "default": "starttls", "title": "TLS", "x-cube-step": "Server",
                "description": "StartTLS upgrades a plain connection; LDAPS is TLS from the start; none sends the password in clear."},
            "ca_pem": {"type": "string", "x-cube-multiline": true, "title": "CA certificate (PEM)", "x-cube-step": "Server",
                "description": "The certificate of the CA that signed the server's, when it is not publicly trusted."},
            "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": 600, "default": 30, "title": "Timeout (seconds)", "x-cube-step": "Server"},
            "bind_dn": {"type": "string", "title": "Bind DN", "x-cube-step": "Bind",
                "description": "The service account: CN=cube-sync,OU=Service,DC=corp,DC=example, or cube-sync@corp.example on Active Directory."},
            "password": {"type": "string", "writeOnly": true, "title": "Password", "x-cube-step": "Bind"},
            "base_dn": {"type": "string", "title": "Base DN", "x-cube-step": "Search",
                "description": "Where users and groups are searched unless the bases below say otherwise (DC=corp,DC=example)."},
            "user_base": {"type": "string", "title": "User search base", "x-cube-step": "Search"},
            "user_filter": {"type": "string", "title": "User filter", "x-cube-step": "Search",
                "description": "Empty for the preset's: (&(objectClass=user)(objectCategory=person)) on Active Directory, (objectClass=inetOrgPerson) on OpenLDAP."},
            "group_base": {"type": "string", "title": "Group search base", "x-cube-step": "Search"},
            "group_filter": {"type": "string", "title": "Group filter", "x-cube-step": "Search",
                "description": "Empty for the preset's: (objectClass=group) on Active Directory, groupOfNames or groupOfUniqueNames on OpenLDAP."},
            "page_size": {"type": "integer", "minimum": 1, "maximum": 5000, "default": 500, "title": "Page size", "x-cube-step": "Search",
                "description": "Entries per page of the paged search (Active Directory serves at most 1000)."},
            "preset": {"enum": ["active-directory", "openldap"], "default": "active-directory", "title": "Attribute preset", "x-cube-step": "Attributes",
                "description": "Active Directory: sAMAccountName, objectGUID, userAccountControl, uSNChanged. OpenLDAP: uid, entryUUID, entryCSN."},
            "id_attribute": {"type": "string", "title": "Stable id attribute", "x-cube-step": "Attributes",
                "description": "Empty for the preset's (objectGUID or entryUUID). Never a DN: renames must not look like new accounts."},
            "username_attribute": {"type": "string", "title": "User name attribute", "x-cube-step": "Attributes"},
            "email_attribute": {"type": "string", "title": "E-mail attribute", "x-cube-step": "Attributes"},
            "display_name_attribute": {"type": "string", "title": "Display name attribute", "x-cube-step": "Attributes"},
            "member_attribute": {"type": "string", "title": "Group member attribute", "x-cube-step": "Attributes",
                "description": "Empty for member; uniqueMember for groupOfUniqueNames."},
            "disabled_attribute": {"type": "string", "title": "Disabled-account attribute", "x-cube-step": "Attributes",
                "description": "Empty on Active Directory (userAccountControl is used). Elsewhere, for example pwdAccountLockedTime or nsAccountLock."},
            "disabled_values": {"type": "string", "title": "Values that mean disabled", "x-cube-step": "Attributes",
                "description": "Comma-separated; empty means the attribute's presence alone disables the account."},
            "change_tracking": {"enum": ["auto", "usn", "csn", "timestamp"], "default": "auto", "title": "Change tracking", "x-cube-step": "Attributes",
                "description": "How incremental syncs find changes: uSNChanged (Active Directory), entryCSN (OpenLDAP), or modifyTimestamp. Auto asks the server."}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: Value) -> Config {
        let mut base = json!({"server": "dc1.corp.example", "bind_dn": "x", "password": "y", "base_dn": "DC=corp,DC=example"});
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn urls_follow_the_tls_mode_and_port() {
        assert_eq!(config(json!({})).url(), "ldap://dc1.corp.example:389");
        assert_eq!(
            config(json!({"tls": "ldaps"})).url(),
            "ldaps://dc1.corp.example:636"
        );
        assert_eq!(
            config(json!({"tls": "none", "port": 3389, "server": "ldap://10.0.0.5/"})).url(),
            "ldap://10.0.0.5:3389"
        );
        assert_eq!(config(json!({"server": "::1"})).url(), "ldap://[::1]:389");
    }

    #[test]
    fn presets_give_attribute_names_and_overrides_win() {
        let ad = config(json!({})).attributes();
        assert_eq!(ad.id, "objectGUID");
        assert_eq!(ad.username, "sAMAccountName");
        assert_eq!(ad.disabled, Disabled::AccountControl);
        let ldap = config(
            json!({"preset": "openldap", "member_attribute": "uniqueMember",
            "disabled_attribute": "nsAccountLock", "disabled_values": "TRUE, true"}),
        )
        .attributes();
        assert_eq!(ldap.id, "entryUUID");
        assert_eq!(ldap.username, "uid");
        assert_eq!(ldap.member, "uniqueMember");
        assert_eq!(
            ldap.disabled,
            Disabled::Attribute {
                name: "nsAccountLock".into(),
                values: vec!["TRUE".into(), "true".into()]
            }
        );
        let bases = config(json!({"user_base": "OU=People,DC=corp,DC=example"}));
        assert_eq!(bases.user_base(), "OU=People,DC=corp,DC=example");
        assert_eq!(bases.group_base(), "DC=corp,DC=example");
    }
}
