//! What a `.wasm` file is, read from its bytes without running it.

use serde::Serialize;
use wit_component::DecodedWasm;
use wit_parser::{Resolve, WorldItem, WorldKey};

use crate::runtime::LoadError;

/// The shape of a component: its world's imports and exports.
#[derive(Debug, Serialize)]
pub struct Shape {
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

/// Decodes the imports and exports of a component. Errors say what the file
/// is instead (not wasm, a core module, malformed).
pub fn shape(bytes: &[u8]) -> Result<Shape, LoadError> {
    crate::runtime::check_kind(bytes)?;
    let decoded =
        wit_component::decode(bytes).map_err(|e| LoadError::Malformed(format!("{e:#}")))?;
    let DecodedWasm::Component(resolve, world) = decoded else {
        return Err(LoadError::Malformed(
            "this file is a WIT package, not a component".to_owned(),
        ));
    };
    let world = &resolve.worlds[world];
    let describe = |key: &WorldKey, item: &WorldItem| -> Option<String> {
        match item {
            WorldItem::Type { .. } => None,
            _ => Some(key_name(&resolve, key)),
        }
    };
    Ok(Shape {
        imports: world
            .imports
            .iter()
            .filter_map(|(k, i)| describe(k, i))
            .collect(),
        exports: world
            .exports
            .iter()
            .filter_map(|(k, i)| describe(k, i))
            .collect(),
    })
}

fn key_name(resolve: &Resolve, key: &WorldKey) -> String {
    match key {
        WorldKey::Name(name) => name.clone(),
        WorldKey::Interface(id) => resolve
            .id_of(*id)
            .unwrap_or_else(|| "<anonymous interface>".to_owned()),
    }
}
