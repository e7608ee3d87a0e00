//! The shape of the code, checked: no module of any crate of the workspace
//! depends on itself through others, the host's rooms depend on each other
//! one way only (in the order of [`ROOMS`], which `docs/architecture.md`
//! explains), and no source file grows past 600 lines without saying why
//! at its top.
//!
//! Dependencies are read from the source: every `crate::`, `super::` and
//! `self::` path (in `use` trees too), outside comments, strings and
//! `#[cfg(test)]` modules. A module using its own ancestors (the items and
//! re-exports of its `mod.rs`) is how Rust modules work and is not counted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The host's rooms, lowest first: a room may use only rooms before it.
/// A new room goes here, and in `docs/architecture.md`, at the place its
/// dependencies allow.
const ROOMS: &[&str] = &[
    // Leaves: they use nothing else of the crate.
    "shared",
    "metrics",
    "schedule",
    "secrets",
    // The address policy every outbound client keeps to.
    "net",
    // The sandbox and its capabilities.
    "runtime",
    // The database.
    "store",
    // Services, each using only those before it.
    "integrations",
    "plugin",
    "marketplace",
    "catalog",
    "sync",
    "webhooks",
    "worker",
    // The HTTP server and admin UI, then the command line over everything.
    "web",
    "cli",
];

/// Longest a source file may be without a reason at its top.
const MAX_LINES: usize = 600;
/// What the reason starts with, in the file's first lines.
const LONG_FILE_MARK: &str = "Longer than 600 lines because";

type ModPath = Vec<String>;

/// The modules of the crate whose root is `src`, by path, with their file.
fn modules(src: &Path) -> BTreeMap<ModPath, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: ModPath = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            out.insert(parts, path);
        }
    }
    out
}

/// The code of a file without comments, string and char literals, and
/// without its `#[cfg(test)]` modules (those may use anything).
fn code_of(source: &str) -> String {
    let bytes = source.as_bytes();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = &source[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("/*") {
            i += rest.find("*/").map_or(rest.len(), |end| end + 2);
        } else if let Some((prefix, hashes)) = raw_string_start(rest) {
            let close = format!("\"{}", "#".repeat(hashes));
            let body = prefix + hashes + 1;
            i += rest[body..]
                .find(&close)
                .map_or(rest.len(), |end| body + end + close.len());
            out.push_str("\"\"");
        } else if rest.starts_with('"') {
            let mut j = 1;
            while j < rest.len() {
                match rest.as_bytes()[j] {
                    b'\\' => j += 2,
                    b'"' => break,
                    _ => j += 1,
                }
            }
            i += j + 1;
            out.push_str("\"\"");
        } else if rest.starts_with("'\"'") || rest.starts_with("'\\''") {
            i += if rest.starts_with("'\"'") { 3 } else { 4 };
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    // `#[cfg(test)] mod name { ... }`: drop through its closing brace.
    while let Some(at) = out.find("#[cfg(test)]") {
        let after = out[at + "#[cfg(test)]".len()..].trim_start();
        if !after.starts_with("mod ") {
            out.replace_range(at..at + "#[cfg(test)]".len(), "");
            continue;
        }
        let (semicolon, brace) = (out[at..].find(';'), out[at..].find('{'));
        if semicolon.is_some_and(|s| brace.is_none_or(|b| s < b)) {
            // `mod tests;`: its file is read as a module of its own.
            out.replace_range(at..at + semicolon.unwrap() + 1, "");
            continue;
        }
        let open = at + brace.expect("a `#[cfg(test)] mod` with a body");
        let mut depth = 0;
        let mut end = out.len();
        for (k, b) in out.as_bytes()[open..].iter().enumerate() {
            match b {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + k + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.replace_range(at..end, "");
    }
    out
}

/// `r"`, `r#"`, `br#"`... at the start of `text`: the length of the `r` or
/// `br`, and the number of `#`.
fn raw_string_start(text: &str) -> Option<(usize, usize)> {
    let rest = text.strip_prefix('r').or_else(|| text.strip_prefix("br"))?;
    let hashes = rest.bytes().take_while(|b| *b == b'#').count();
    let prefix = text.len() - rest.len();
    rest[hashes..].starts_with('"').then_some((prefix, hashes))
}

#[derive(Debug, PartialEq)]
enum Token {
    Ident(String),
    Path,
    Open,
    Close,
    Comma,
    Other,
}

fn tokens(code: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            // A lifetime or label ('a) is not a path.
            let word: String = chars[start..i].iter().collect();
            if start > 0 && chars[start - 1] == '\'' {
                out.push(Token::Other);
            } else {
                out.push(Token::Ident(word));
            }
            continue;
        }
        out.push(match c {
            ':' if chars.get(i + 1) == Some(&':') => {
                i += 1;
                Token::Path
            }
            '{' => Token::Open,
            '}' => Token::Close,
            ',' => Token::Comma,
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            _ => Token::Other,
        });
        i += 1;
    }
    out
}

/// Every path that starts with `crate`, `super` or `self`, as written
/// (use trees expanded into one path per leaf).
fn paths(tokens: &[Token]) -> Vec<Vec<String>> {
    fn tree(
        tokens: &[Token],
        mut i: usize,
        prefix: Vec<String>,
        out: &mut Vec<Vec<String>>,
    ) -> usize {
        let mut path = prefix;
        loop {
            match tokens.get(i) {
                Some(Token::Ident(word)) => {
                    path.push(word.clone());
                    i += 1;
                    if tokens.get(i) == Some(&Token::Path) {
                        i += 1;
                        continue;
                    }
                    out.push(path);
                    return i;
                }
                Some(Token::Open) => {
                    i += 1;
                    loop {
                        match tokens.get(i) {
                            Some(Token::Close) => return i + 1,
                            Some(Token::Comma) => i += 1,
                            Some(_) => {
                                let before = i;
                                i = tree(tokens, i, path.clone(), out);
                                if i == before {
                                    i += 1;
                                }
                            }
                            None => return i,
                        }
                    }
                }
                _ => {
                    out.push(path);
                    return i;
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let starts = matches!(&tokens[i], Token::Ident(w) if w == "crate" || w == "super" || w == "self")
            && tokens.get(i + 1) == Some(&Token::Path)
            && !matches!(i.checked_sub(1).map(|p| &tokens[p]), Some(Token::Path));
        if starts {
            i = tree(tokens, i, Vec::new(), &mut out).max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// The module a path written in `module` names: the longest prefix of it
/// that is a module of the crate.
fn resolve(
    module: &ModPath,
    path: &[String],
    known: &BTreeMap<ModPath, PathBuf>,
) -> Option<ModPath> {
    let mut base: ModPath = Vec::new();
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => rest = &path[1..],
        Some("self") => {
            base = module.clone();
            rest = &path[1..];
        }
        Some("super") => {
            base = module.clone();
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    let full: ModPath = base.into_iter().chain(rest.iter().cloned()).collect();
    (0..=full.len())
        .rev()
        .map(|n| full[..n].to_vec())
        .find(|candidate| known.contains_key(candidate))
}

/// Each module's dependencies on other modules of its crate.
fn graph(src: &Path) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
    let known = modules(src);
    let mut edges = BTreeMap::new();
    for (module, file) in &known {
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        let mut used = BTreeSet::new();
        for path in paths(&tokens(&code)) {
            if let Some(target) = resolve(module, &path, &known)
                && &target != module
                && !module.starts_with(&target)
            {
                used.insert(target);
            }
        }
        edges.insert(module.clone(), used);
    }
    edges
}

/// The groups of modules that depend on each other in a circle.
fn cycles(edges: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
    // Tarjan's strongly connected components.
    struct Walk<'a> {
        edges: &'a BTreeMap<ModPath, BTreeSet<ModPath>>,
        index: BTreeMap<&'a ModPath, usize>,
        low: BTreeMap<&'a ModPath, usize>,
        stack: Vec<&'a ModPath>,
        found: Vec<Vec<ModPath>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a ModPath) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            for w in self.edges.get(v).into_iter().flatten() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.stack.contains(&w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut group = Vec::new();
                while let Some(w) = self.stack.pop() {
                    group.push(w.clone());
                    if w == v {
                        break;
                    }
                }
                if group.len() > 1 {
                    group.sort();
                    self.found.push(group);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !walk.index.contains_key(v) {
            walk.visit(v);
        }
    }
    walk.found
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The `src` folder of every crate of the workspace.
fn crates() -> Vec<PathBuf> {
    let root = workspace();
    let mut out = vec![root.join("host/src"), root.join("sdk/src")];
    for group in ["plugins", "tests/components"] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(root.join(group))
            .unwrap()
            .map(|e| e.unwrap().path().join("src"))
            .filter(|src| src.is_dir())
            .collect();
        found.sort();
        out.extend(found);
    }
    out
}

fn name(module: &ModPath) -> String {
    if module.is_empty() {
        "(crate root)".into()
    } else {
        module.join("::")
    }
}

#[test]
fn no_module_depends_on_itself_through_others() {
    let mut problems = Vec::new();
    for src in crates() {
        let edges = graph(&src);
        for group in cycles(&edges) {
            let arrows: Vec<String> = group
                .iter()
                .flat_map(|from| {
                    edges[from]
                        .iter()
                        .filter(|to| group.contains(to))
                        .map(move |to| format!("{} -> {}", name(from), name(to)))
                })
                .collect();
            problems.push(format!("{}: {}", src.display(), arrows.join(", ")));
        }
    }
    assert!(
        problems.is_empty(),
        "modules that depend on each other (move what both need into a module of its own, \
         below both):\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_hosts_rooms_depend_on_each_other_one_way() {
    let edges = graph(&workspace().join("host/src"));
    let rank = |room: &str| ROOMS.iter().position(|r| *r == room);
    let mut problems = Vec::new();
    let mut rooms = BTreeSet::new();
    for (from, targets) in &edges {
        let Some(from_room) = from.first() else {
            continue; // lib.rs and main.rs declare the rooms.
        };
        rooms.insert(from_room.clone());
        let Some(from_rank) = rank(from_room) else {
            problems.push(format!(
                "room `{from_room}` is not in ROOMS: add it (and to docs/architecture.md) \
                 where its dependencies allow"
            ));
            continue;
        };
        for to in targets {
            let Some(to_room) = to.first() else {
                continue; // The crate root is every room's ancestor.
            };
            if to_room == from_room {
                continue;
            }
            match rank(to_room) {
                Some(to_rank) if to_rank < from_rank => {}
                _ => problems.push(format!(
                    "{} -> {}: `{from_room}` may not use `{to_room}`",
                    name(from),
                    name(to)
                )),
            }
        }
    }
    problems.sort();
    problems.dedup();
    assert!(
        problems.is_empty(),
        "dependencies against the rooms' order (docs/architecture.md):\n{}",
        problems.join("\n")
    );
    // Every room listed exists, so the list stays the map of the house.
    for room in ROOMS {
        assert!(rooms.contains(*room), "ROOMS names `{room}`, which is gone");
    }
}

#[test]
fn long_files_say_why_at_their_top() {
    let root = workspace();
    let mut long = Vec::new();
    let mut stack: Vec<PathBuf> = ["host", "sdk", "plugins", "tests", "test-support"]
        .iter()
        .map(|d| root.join(d))
        .collect();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "target") {
                    stack.push(path);
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let lines = text.lines().count();
            let head: String = text.lines().take(40).collect::<Vec<_>>().join("\n");
            if lines > MAX_LINES && !head.contains(LONG_FILE_MARK) {
                long.push(format!(
                    "{} ({lines} lines)",
                    path.strip_prefix(&root).unwrap().display()
                ));
            }
        }
    }
    long.sort();
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines: split them, or say at the top why not \
         (\"{LONG_FILE_MARK} ...\"):\n{}",
        long.join("\n")
    );
}

#[test]
fn the_reader_sees_through_comments_strings_and_test_modules() {
    let code = code_of(
        "use crate::a::{b, c::{d, e}};\n// crate::hidden\nlet s = \"crate::in_string\";\n\
         let r = r#\"crate::raw\"#; let b = br\"crate::bytes\";\nfn f<'a>(x: &'a str) {}\n\
         #[cfg(test)]\nmod tests { use crate::only_in_tests; }\nuse super::super::up;\n",
    );
    let found = paths(&tokens(&code));
    let joined: Vec<String> = found.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        joined,
        [
            "crate::a::b",
            "crate::a::c::d",
            "crate::a::c::e",
            "super::super::up"
        ]
    );
    let known: BTreeMap<ModPath, PathBuf> = [
        vec![],
        vec!["a".to_owned()],
        vec!["a".to_owned(), "c".to_owned()],
        vec!["x".to_owned(), "y".to_owned()],
    ]
    .into_iter()
    .map(|m| (m, PathBuf::new()))
    .collect();
    let module = vec!["x".to_owned(), "y".to_owned()];
    let targets: Vec<Option<ModPath>> = found.iter().map(|p| resolve(&module, p, &known)).collect();
    assert_eq!(
        targets,
        [
            Some(vec!["a".to_owned()]),
            Some(vec!["a".to_owned(), "c".to_owned()]),
            Some(vec!["a".to_owned(), "c".to_owned()]),
            Some(vec![]),
        ]
    );
    let ring: BTreeMap<ModPath, BTreeSet<ModPath>> = [
        (vec!["p".to_owned()], BTreeSet::from([vec!["q".to_owned()]])),
        (vec!["q".to_owned()], BTreeSet::from([vec!["p".to_owned()]])),
        (vec!["r".to_owned()], BTreeSet::from([vec!["p".to_owned()]])),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        cycles(&ring),
        [vec![vec!["p".to_owned()], vec!["q".to_owned()]]]
    );
}
