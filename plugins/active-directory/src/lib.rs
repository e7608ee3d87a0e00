//! The Active Directory / LDAP connector: users and groups, full and
//! incremental, from Active Directory, OpenLDAP or any LDAPv3 directory.
//!
//! - `config`: the settings, their schema and the two attribute presets.
//! - `server`: connecting, binding, and what the root DSE says about
//!   change tracking.
//! - `sync`: the window walk over change stamps that makes syncs resumable.
//! - `entries`: entries into `user` and `group` records (GUIDs, disabled
//!   accounts, ranged member lists).
//! - `tracking`: `uSNChanged`, `entryCSN` and `modifyTimestamp` as numbers.
//! - `check`: the connection test and its preview.
//!
//! Groups are read with their direct members' DNs; the host resolves them
//! against the synced users and groups and works out nested memberships,
//! the same way for every directory.

pub mod check;
pub mod config;
pub mod entries;
pub mod server;
pub mod sync;
pub mod tracking;

use cube_connector_sdk::prelude::*;

pub use config::Config;

pub struct ActiveDirectory;

impl Connector for ActiveDirectory {
    type Config = Config;

    fn info() -> ConnectorInfo {
        ConnectorInfo::builder(
            "active-directory",
            "Active Directory / LDAP",
            env!("CARGO_PKG_VERSION"),
        )
        .description(
            "Synchronises users and groups, nested groups and disabled accounts included, from \
                 Active Directory, OpenLDAP or any LDAPv3 directory, over StartTLS or LDAPS.",
        )
        .config_schema(config::schema())
        .ldap("ldap://*")
        .ldap("ldaps://*")
        .features(Features::SYNC)
        .build()
    }

    fn test_connection(config: Config) -> Result<String> {
        check::test_connection(&config)
    }

    fn sync(config: Config, input: SyncInput) -> Result<SyncPage> {
        sync::sync(&config, input)
    }
}

cube_connector_sdk::export_connector!(ActiveDirectory);
