//! Files that are not connectors are refused with messages that say what
//! they are and what to do.

use cube_test_support as common;

use cube_host::runtime::LoadError;
use wit_component::{ComponentEncoder, StringEncoding};
use wit_parser::{ManglingAndAbi, Resolve};

/// A component of `world` from the WIT `source`, with dummy code.
fn component_of(source: &str, world: &str) -> Vec<u8> {
    let mut resolve = Resolve::default();
    let package = resolve.push_str("test.wit", source).unwrap();
    let world = resolve.select_world(&[package], Some(world)).unwrap();
    let mut module = wit_component::dummy_module(&resolve, world, ManglingAndAbi::Standard32);
    wit_component::embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8)
        .unwrap();
    ComponentEncoder::default()
        .module(&module)
        .unwrap()
        .validate(true)
        .encode()
        .unwrap()
}

/// A component of a world `connector` declared after `preamble` (the
/// package, and any interface of its own), which has `imports` and exports
/// the connector world's functions by name, with strings for types.
fn lookalike_connector(preamble: &str, imports: &str) -> Vec<u8> {
    let source = format!(
        "{preamble}
        world connector {{
            {imports}
            export info: func() -> string;
            export test-connection: func(config: string) -> string;
            export choices: func() -> string;
            export sync: func() -> string;
            export push: func() -> string;
            export handle-webhook: func() -> string;
        }}"
    );
    component_of(&source, "connector")
}

fn load_error(bytes: &[u8]) -> String {
    let runtime = common::runtime();
    match runtime.load(bytes) {
        Ok(_) => panic!("loaded what should have been refused"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_file_that_is_not_wasm_is_refused() {
    let message = load_error(b"#!/bin/sh\nrm -rf /\n");
    assert_eq!(
        message,
        "not a WebAssembly file (it does not start with the `\\0asm` magic bytes)"
    );
}

#[test]
fn malformed_wasm_is_refused() {
    let mut bytes = common::probe_wasm().to_vec();
    bytes.truncate(bytes.len() / 2);
    let message = load_error(&bytes);
    assert!(
        message.starts_with("the component is malformed:"),
        "{message}"
    );
}

#[test]
fn a_core_module_is_refused_with_a_hint() {
    let message = load_error(b"\0asm\x01\0\0\0");
    assert!(
        message.contains("core WebAssembly module, not a component"),
        "{message}"
    );
    assert!(
        message.contains("cube:connector/connector@0.1.0"),
        "{message}"
    );
}

#[test]
fn a_component_of_another_world_is_refused_naming_what_it_lacks() {
    let bytes = component_of(
        "package acme:other; world greeter { export greet: func(name: string) -> string; }",
        "greeter",
    );
    let message = load_error(&bytes);
    assert!(
        message.contains("does not implement the cube:connector/connector@0.1.0 world"),
        "{message}"
    );
    assert!(
        message.contains(
            "does not export info, test-connection, choices, sync, push, handle-webhook (it exports greet)"
        ),
        "{message}"
    );
}

#[test]
fn a_component_importing_what_the_host_does_not_provide_is_refused() {
    let bytes = lookalike_connector(
        "package acme:evil;
        interface backdoor { open: func(path: string) -> string; }",
        "import backdoor;",
    );
    let message = load_error(&bytes);
    assert!(
        message.contains("it imports acme:evil/backdoor"),
        "{message}"
    );
}

#[test]
fn a_component_with_the_right_names_but_wrong_types_is_refused() {
    let bytes = lookalike_connector("package acme:lookalike;", "");
    let message = load_error(&bytes);
    assert!(
        message.contains("does not implement the cube:connector/connector@0.1.0 world"),
        "{message}"
    );
}

#[test]
fn inspection_reports_the_same_problems_without_compiling() {
    let err = cube_host::plugin::inspect::shape(b"\0asm\x01\0\0\0").unwrap_err();
    assert!(matches!(err, LoadError::CoreModule { .. }));
    let shape = cube_host::plugin::inspect::shape(common::probe_wasm()).unwrap();
    assert_eq!(
        shape.exports,
        [
            "info",
            "test-connection",
            "choices",
            "sync",
            "push",
            "handle-webhook"
        ]
    );
    assert!(
        shape
            .imports
            .contains(&"cube:connector/http@0.1.0".to_owned())
    );
}
