//! A bounded fuzzer for what the connector parses from the network: the
//! WSDL reader, the fault reader, the record extractor and the template
//! renderer get mutated versions of real documents (tests/seeds: spyne's
//! WSDLs, responses and faults) for `CUBE_FUZZ_SECONDS` (default 10) and
//! must never panic. The equivalent of a `cargo fuzz` target on the stable
//! toolchain: a small deterministic PRNG (seed from `CUBE_FUZZ_SEED`, so a
//! failure can be replayed), and `catch_unwind` around every call; a panic
//! fails the test and prints the input that caused it.

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use soap::envelope;
use soap::version::SoapVersion;
use soap::wsdl::Wsdl;
use soap::{extract, fault, xml};

/// xorshift64*: small, fast and deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const SEEDS: [&str; 5] = [
    include_str!("seeds/wsdl-spyne-11.xml"),
    include_str!("seeds/wsdl-spyne-12.xml"),
    include_str!("seeds/response-11.xml"),
    include_str!("seeds/fault-11.xml"),
    include_str!("seeds/fault-12.xml"),
];

const TOKENS: [&str; 24] = [
    "<",
    ">",
    "&",
    "&amp;",
    "&#x0;",
    "&#1114112;",
    "&unknown;",
    "]]>",
    "<![CDATA[",
    "<!--",
    "<?xml version='1.0'?>",
    "<!DOCTYPE x [<!ENTITY e 'boom'>]>",
    "xmlns:tns=\"\"",
    "xmlns=\"urn:x\"",
    " a=\"1\" a=\"2\"",
    "tns:",
    ":",
    "\"",
    "'",
    "\u{feff}",
    "\u{0}",
    "é",
    "</wsdl:definitions>",
    "<soap11env:Fault><faultcode>x:y</faultcode></soap11env:Fault>",
];

/// One mutation of `input`: random bytes, truncation, insertion of a
/// markup token, deletion or duplication of a span, deep nesting, a huge
/// attribute.
fn mutate(rng: &mut Rng, input: &str) -> Vec<u8> {
    let mut bytes = input.as_bytes().to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(9) {
            0 => {
                for _ in 0..=rng.below(8) {
                    let i = rng.below(bytes.len());
                    if i < bytes.len() {
                        bytes[i] = rng.next() as u8;
                    }
                }
            }
            1 => bytes.truncate(at),
            2 => {
                let token = rng.pick(&TOKENS).as_bytes();
                bytes.splice(at..at, token.iter().copied());
            }
            3 => {
                let end = (at + rng.below(200)).min(bytes.len());
                bytes.drain(at..end);
            }
            4 => {
                let end = (at + rng.below(400)).min(bytes.len());
                let span = bytes[at..end].to_vec();
                bytes.splice(at..at, span);
            }
            5 => {
                let depth = rng.below(2000);
                let deep = "<a>".repeat(depth) + &"</a>".repeat(rng.below(depth + 1));
                bytes.splice(at..at, deep.into_bytes());
            }
            6 => {
                let huge = format!(" big=\"{}\"", "x".repeat(rng.below(200_000)));
                // After an element's name, where an attribute may stand.
                let after = bytes[..at]
                    .iter()
                    .rposition(|b| *b == b'<')
                    .map_or(at, |p| p + 2)
                    .min(bytes.len());
                bytes.splice(after..after, huge.into_bytes());
            }
            7 => {
                let a = rng.below(bytes.len() + 1);
                let b = rng.below(bytes.len() + 1);
                let (a, b) = (a.min(b), a.max(b));
                bytes[a..b].reverse();
            }
            _ => {
                let token = *rng.pick(&["{{", "}}", "{{since}}", "{{ x }}"]);
                bytes.splice(at..at, token.bytes());
            }
        }
    }
    bytes
}

/// Everything the connector does with a document from the network.
fn exercise(text: &str) {
    if let Ok(wsdl) = Wsdl::parse(text) {
        for name in wsdl.operation_names() {
            for version in [SoapVersion::V11, SoapVersion::V12] {
                if let Ok(plan) = wsdl.plan(name, version) {
                    let _ = envelope::body(&plan, "<since>x</since>");
                    let _ = envelope::body(&plan, text);
                }
            }
        }
    }
    if let Ok(doc) = xml::parse(text) {
        if let Some(f) = fault::find(&doc) {
            let _ = f.into_error("Op");
        }
        for path in [
            "Envelope/Body/GetItemsResponse/GetItemsResult/Item",
            "*/*",
            "definitions/*",
        ] {
            let found = extract::records(&doc, path);
            for record in &found.records {
                for value in record.values() {
                    let _ = extract::text(value);
                }
            }
        }
    }
    let values = BTreeMap::from([("since".to_owned(), text.chars().take(64).collect())]);
    let _ = envelope::render_template(text, &values);
}

#[test]
fn no_panic_escapes_the_parsers() {
    let seconds: u64 = std::env::var("CUBE_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let seed: u64 = std::env::var("CUBE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_50A9);
    let mut rng = Rng(seed | 1);
    // Panics are reported below with their input; the default hook's
    // message would only repeat them.
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut runs = 0u64;
    let mut failure = None;
    while Instant::now() < deadline {
        let seed_doc = *rng.pick(&SEEDS);
        // Mutations of mutations now and then, to go further from the seed.
        let mut input = mutate(&mut rng, seed_doc);
        if rng.below(4) == 0 {
            input = mutate(&mut rng, &String::from_utf8_lossy(&input));
        }
        let text = String::from_utf8_lossy(&input).into_owned();
        runs += 1;
        if let Err(panic) = panic::catch_unwind(AssertUnwindSafe(|| exercise(&text))) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failure = Some((message, text));
            break;
        }
    }
    panic::set_hook(hook);
    if let Some((message, text)) = failure {
        panic!(
            "a parser panicked after {runs} runs (seed {seed}): {message}\ninput ({} bytes):\n{text:?}",
            text.len()
        );
    }
    println!("fuzzed {runs} inputs in {seconds} s without a panic");
    assert!(runs > 0);
}

#[test]
fn hostile_shapes_are_errors_not_crashes() {
    let deep = "<a>".repeat(100_000);
    assert!(xml::parse(&deep).is_err());
    let wide = format!("<a>{}</a>", "<b/>".repeat(100_000));
    assert_eq!(xml::parse(&wide).unwrap().children.len(), 100_000);
    let huge_attr = format!("<a b=\"{}\"/>", "&amp;".repeat(200_000));
    assert!(xml::parse(&huge_attr).is_ok());
    for seed in SEEDS {
        for cut in (0..seed.len()).step_by(7) {
            if seed.is_char_boundary(cut) {
                exercise(&seed[..cut]);
            }
        }
    }
}
