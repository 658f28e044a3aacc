//! The `macro_args` fuzz target: the argument parser of `#[auth::required(...)]` and
//! `#[auth::optional(...)]` on arbitrary token streams.
//!
//! A proc-macro crate exports only its macros, so this file includes the parser module itself
//! (which depends on `syn` and `proc-macro2` only, for this purpose).

#[path = "../../oidc-actix-macros/src/args.rs"]
mod args;

use std::str::FromStr as _;

use oidc_actix::{ClaimConstraints, Policy};
use proc_macro2::TokenStream;
use serde_json::{Map, Value};

use args::{Args, ClaimValue};

use super::{Outcome, Seed};

/// Parses the input (UTF-8 text, lexed as Rust tokens) as attribute arguments.
///
/// Invariants: accepted arguments, and those salvaged from rejected ones, hold only valid
/// scopes (RFC 6749 §3.3 tokens, each once) and valid claim rules (non-empty dotted paths, each
/// once, with at least one value), which the runtime (`Policy::with_scopes`,
/// `ClaimConstraints::from_json`) accepts too; salvaging accepted arguments loses nothing; a
/// rejection carries messages and turns into a compile error.
pub fn run(data: &[u8]) -> Outcome {
    let Ok(text) = std::str::from_utf8(data) else {
        return Outcome::Rejected;
    };
    // What rustc's lexer refuses never reaches the macro.
    let Ok(tokens) = TokenStream::from_str(text) else {
        return Outcome::Rejected;
    };
    let recovered = args::recover_args(tokens.clone());
    check_valid(&recovered);
    match args::parse_args(tokens) {
        Ok(parsed) => {
            check_valid(&parsed);
            assert_eq!(parsed.scopes, recovered.scopes, "recovery lost scopes");
            assert_eq!(parsed.claims, recovered.claims, "recovery lost claims");
            assert_eq!(
                parsed.krate.as_ref().map(path_text),
                recovered.krate.as_ref().map(path_text),
                "recovery lost the crate path"
            );
            Outcome::Accepted
        }
        Err(error) => {
            for message in error.clone() {
                assert!(!message.to_string().is_empty(), "an empty error message");
            }
            assert!(!error.to_compile_error().is_empty());
            Outcome::Rejected
        }
    }
}

/// A crate path as written, for comparison (`syn::Path` has no `PartialEq` without spans).
fn path_text(path: &syn::Path) -> String {
    let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    let leading = if path.leading_colon.is_some() {
        "::"
    } else {
        ""
    };
    format!("{leading}{}", segments.join("::"))
}

fn check_valid(args: &Args) {
    let scope_char = |c: char| matches!(c, '\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E');
    for (i, scope) in args.scopes.iter().enumerate() {
        assert!(
            !scope.is_empty() && scope.chars().all(scope_char),
            "invalid scope {scope:?}"
        );
        assert!(!args.scopes[..i].contains(scope), "scope {scope:?} twice");
    }
    if !args.scopes.is_empty() {
        assert!(
            Policy::authenticated()
                .with_scopes(&args.scopes.join(" "))
                .is_ok(),
            "the runtime refuses scopes the macro accepts: {:?}",
            args.scopes
        );
    }
    if let Some(krate) = &args.krate {
        assert!(!krate.segments.is_empty(), "an empty crate path");
    }
    let Some(rules) = &args.claims else {
        return;
    };
    let mut object = Map::new();
    for rule in rules {
        assert!(
            !rule.path.split('.').any(str::is_empty),
            "invalid claim path {:?}",
            rule.path
        );
        assert!(
            !rule.values.is_empty(),
            "claim {:?} without values",
            rule.path
        );
        let values = rule
            .values
            .iter()
            .map(|value| match value {
                ClaimValue::Str(s) => Value::from(s.as_str()),
                ClaimValue::Bool(b) => Value::from(*b),
                ClaimValue::Int(i) => Value::from(*i),
            })
            .collect();
        let previous = object.insert(rule.path.clone(), Value::Array(values));
        assert!(previous.is_none(), "claim {:?} twice", rule.path);
    }
    let runtime = ClaimConstraints::from_json(&Value::Object(object)).unwrap_or_else(|e| {
        panic!("the runtime refuses claims the macro accepts: {e}");
    });
    assert_eq!(runtime.rules().len(), rules.len());
}

/// Seed inputs: valid arguments of every kind, and the mistakes the UI tests pin.
pub fn seeds() -> Vec<Seed> {
    let accepted = [
        ("empty", ""),
        ("scopes", r#"scopes = " profile  email ""#),
        (
            "claims",
            r#"claims = {"groups": ["admins", "staff"], "email_verified": true, "level": -3,}"#,
        ),
        ("claims-empty", "claims = {}"),
        ("crate-string", r#"crate = "my_oidc""#),
        ("crate-path", "crate = ::my::oidc"),
        (
            "all",
            r#"scopes = "reports", claims = {"realm_access.roles": "admin"}, crate = "x","#,
        ),
        (
            "extreme-integers",
            r#"claims = {"a": [-9223372036854775808, 9223372036854775807]}"#,
        ),
    ];
    let rejected = [
        ("bare-word", "admin"),
        ("typo", r#"scoeps = "x""#),
        ("duplicate", r#"scopes = "a", scopes = "b""#),
        ("scope-char", r#"scopes = "a\"b""#),
        ("scope-twice", r#"scopes = "a a""#),
        ("no-scope", r#"scopes = "  ""#),
        ("empty-segment", r#"claims = {"a..b": 1}"#),
        ("nested-list", r#"claims = {"x": [[1]]}"#),
        ("float", r#"claims = {"x": 1.5}"#),
        ("too-big", r#"claims = {"x": 99999999999999999999}"#),
        ("suffix", r#"claims = {"x": 1u8}"#),
        ("null", r#"claims = {"x": null}"#),
        ("negative-string", r#"claims = {"x": -"a"}"#),
        ("claim-twice", r#"claims = {"x": 1, "x": 2}"#),
        ("no-equals", "scopes"),
        ("no-comma", r#"scopes = "a" claims = {}"#),
        ("string-first", r#""profile""#),
        ("crate-bad", r#"crate = "not a path""#),
    ];
    let seed = |(name, text): (&str, &str), expected| {
        Seed::new("macro_args", name, text.as_bytes().to_vec(), expected)
    };
    accepted
        .into_iter()
        .map(|s| seed(s, Outcome::Accepted))
        .chain(rejected.into_iter().map(|s| seed(s, Outcome::Rejected)))
        .collect()
}
