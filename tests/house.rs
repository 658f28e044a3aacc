//! The library's layout (`HOUSE.md` in the design notes): its modules stand on floors, and every
//! `use crate::…` of a module points to a lower floor, so no two modules depend on each other.
//! This test reads the sources and fails on an import that points up or sideways, naming it.
//! Test modules (`#[cfg(test)] mod tests`) may use the test kit and are not read, nor comments. nor comments.

use std::fs;
use std::path::{Path, PathBuf};

/// Top to bottom. A module's floor is its file's (or, under `routes/` and `testing/`, its
/// folder's).
const FLOORS: &[&[&str]] = &[
    &["fuzz_bridge"],
    &["routes", "testing"],
    &["lib", "private"],
    &["extract"],
    &["config"],
    &["verify", "cache", "provider"],
    &["jwks", "token", "policy", "discovery", "login_state"],
    &[
        "algorithm",
        "clock",
        "claims",
        "error",
        "fetch",
        "redirect",
        "strict_json",
    ],
];

fn floor(module: &str) -> Option<usize> {
    FLOORS.iter().position(|floor| floor.contains(&module))
}

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).expect("the library's sources") {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files
}

/// The identifier `text` starts with, after white space.
fn ident(text: &str) -> &str {
    let text = text.trim_start();
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// What `text` reaches through `crate::`: the first path segment of each use, braces
/// (`crate::{a, b::c}`) opened one level.
fn reached(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    for (at, prefix) in text.match_indices("crate::") {
        let rest = &text[at + prefix.len()..];
        match rest.strip_prefix('{') {
            Some(group) => {
                let mut depth = 0;
                let end = group
                    .find(|c| {
                        depth += match c {
                            '{' => 1,
                            '}' => -1,
                            _ => 0,
                        };
                        depth < 0
                    })
                    .unwrap_or(group.len());
                let mut depth = 0;
                let mut start = 0;
                for (i, c) in group[..end].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            found.push(ident(&group[start..i]));
                            start = i + 1;
                        }
                        _ => {}
                    }
                }
                found.push(ident(&group[start..end]));
            }
            None => found.push(ident(rest)),
        }
    }
    found.retain(|name| !name.is_empty());
    found
}

#[test]
fn every_import_of_the_library_points_to_a_lower_floor() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("oidc-actix/src");
    let mut wrong = Vec::new();
    let files = sources(&src);
    assert!(files.len() > 20, "the sources were not found in {src:?}");
    for file in files {
        let relative = file.strip_prefix(&src).expect("under src");
        let module = relative
            .iter()
            .next()
            .and_then(|first| first.to_str())
            .map(|first| first.trim_end_matches(".rs"))
            .expect("a file name");
        let own = floor(module)
            .unwrap_or_else(|| panic!("{relative:?} stands on no floor: add it to FLOORS"));
        let text = fs::read_to_string(&file).expect("a readable source");
        let production = text
            .split("#[cfg(test)]\nmod tests")
            .next()
            .unwrap_or(&text);
        // Code only: a doc link (`[x](crate::Authenticated::authorize)`) is no dependency.
        let code: Vec<&str> = production
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect();
        for target in reached(&code.join("\n")) {
            // Names re-exported at the root (`crate::OidcAuth`) are the root's floor.
            let target_floor = floor(target).unwrap_or(floor("lib").unwrap_or_default());
            if target != module && target_floor <= own {
                wrong.push(format!("{relative:?} (floor {own}) uses crate::{target}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that point up or sideways:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_reader_finds_every_first_segment() {
    assert_eq!(
        reached(
            "use crate::jwks::{KeySet};\nuse crate::cache;\nlet x = crate::clock::now();\n\
             use crate::{Algorithm, config::{Config, OidcAuth}, extract::Extraction};"
        ),
        ["jwks", "cache", "clock", "Algorithm", "config", "extract"]
    );
}
