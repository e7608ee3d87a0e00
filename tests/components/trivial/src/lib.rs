//! The trivial connector: answers every call at once, so a benchmark of it
//! measures the host's cost of instantiating and calling, nothing else.

use cube_connector_sdk::prelude::*;
use serde::de::IgnoredAny;

pub struct Trivial;

impl Connector for Trivial {
    type Config = IgnoredAny;

    fn info() -> ConnectorInfo {
        ConnectorInfo::builder("trivial", "Trivial", "0.1.0").build()
    }

    fn test_connection(_: IgnoredAny) -> Result<String> {
        Ok("ok".into())
    }
}

cube_connector_sdk::export_connector!(Trivial);
