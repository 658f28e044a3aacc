//! The arguments of `#[auth::required(...)]` and `#[auth::optional(...)]`.
//!
//! This module depends on `syn` and `proc-macro2` only (no `proc_macro`, no other module of the
//! crate), so a fuzz target or a unit test can include it with `#[path]` and call [`parse_args`]
//! outside a procedural macro.
//!
//! Grammar (`claims` mirrors the Python dict of py-oidc-auth's `@auth.required(claims=...)`):
//!
//! ```text
//! args   := (arg ("," arg)* ","?)?
//! arg    := "scopes" "=" STRING                  space-separated RFC 6749 §3.3 scope tokens
//!         | "claims" "=" "{" (rule ("," rule)* ","?)? "}"
//!         | "crate"  "=" (STRING | PATH)          path of a renamed `oidc-actix` dependency
//! rule   := STRING ":" value                     a dotted claim path without empty segments
//! value  := scalar | "[" scalar ("," scalar)* ","? "]"
//! scalar := STRING | "true" | "false" | "-"? INTEGER
//! ```

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Ident, Lit, LitStr, Path, Token, braced, bracketed, token};

/// The argument names, in the order error messages list them.
const KEYS: [&str; 3] = ["claims", "scopes", "crate"];

/// The parsed and validated arguments of one attribute.
#[derive(Debug, Clone, Default)]
pub struct Args {
    /// The scopes a token must grant, in the order written. Empty when `scopes` is absent.
    pub scopes: Vec<String>,
    /// The claim constraints. `None` when `claims` is absent, so the configured default claims
    /// apply; `Some(vec![])` for `claims = {}`, which switches the defaults off for the route.
    pub claims: Option<Vec<ClaimRule>>,
    /// The `crate = ...` path; `None` means `::oidc_actix`.
    pub krate: Option<Path>,
}

/// One entry of `claims = {...}`: the claim at `path` must match one of `values`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRule {
    /// The dotted claim path, such as `realm_access.roles`.
    pub path: String,
    /// The acceptable values; never empty.
    pub values: Vec<ClaimValue>,
}

/// One acceptable value of a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimValue {
    /// A string literal.
    Str(String),
    /// `true` or `false`.
    Bool(bool),
    /// An integer literal, possibly negative.
    Int(i64),
}

/// Parses and validates the tokens between the attribute's parentheses.
///
/// Every problem is reported on the token at fault; independent problems (an unknown key and
/// an invalid scope, say) are all reported, combined into one [`syn::Error`].
pub fn parse_args(tokens: TokenStream) -> syn::Result<Args> {
    let (args, error) = parse_lenient(tokens);
    match error {
        Some(error) => Err(error),
        None => Ok(args),
    }
}

/// What can be salvaged from arguments that [`parse_args`] rejected: the arguments that were
/// valid, so the expansion that carries the error still names the right crate and does not
/// cause follow-up errors.
pub fn recover_args(tokens: TokenStream) -> Args {
    parse_lenient(tokens).0
}

/// Parses as much as possible, returning the valid arguments and the combined errors.
fn parse_lenient(tokens: TokenStream) -> (Args, Option<syn::Error>) {
    let mut args = Args::default();
    let mut errors = Errors::default();
    let parser = |input: ParseStream<'_>| parse_list(input, &mut args, &mut errors);
    if let Err(error) = parser.parse2(tokens) {
        errors.push(error);
    }
    (args, errors.0)
}

/// Accumulates errors, `syn::Error::combine`-style.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn at(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }
}

/// `key = value, ...`. Syntax errors stop the parse; errors in one value are recorded and the
/// parse goes on, so independent mistakes are reported together.
fn parse_list(input: ParseStream<'_>, args: &mut Args, errors: &mut Errors) -> syn::Result<()> {
    let mut seen: Vec<String> = Vec::new();
    while !input.is_empty() {
        if input.peek(LitStr) {
            return Err(input.error(
                "expected an argument name: `claims`, `scopes` or `crate`; \
                 for scopes, write `scopes = \"...\"`",
            ));
        }
        if !input.peek(Ident::peek_any) {
            return Err(input.error("expected an argument name: `claims`, `scopes` or `crate`"));
        }
        let key = input.call(Ident::parse_any)?;
        let name = key.to_string();
        let known = KEYS.contains(&name.as_str());
        if !known {
            errors.at(key.span(), unknown_key(&name));
        } else if seen.contains(&name) {
            errors.at(key.span(), format!("`{name}` specified more than once"));
        }
        if !input.peek(Token![=]) {
            if known {
                return Err(syn::Error::new(
                    key.span(),
                    format!("expected `=` after `{name}`, such as {}", example(&name)),
                ));
            }
            // An unknown bare word, such as `#[auth::required(admin)]`: already reported.
            skip_value(input)?;
        } else {
            input.parse::<Token![=]>()?;
            // A duplicate is still parsed, to report errors inside it, but only the first counts.
            let first = known && !seen.contains(&name);
            match name.as_str() {
                "scopes" => {
                    if let Some(scopes) = parse_scopes(input, errors)?
                        && first
                    {
                        args.scopes = scopes;
                    }
                }
                "claims" => {
                    if let Some(rules) = parse_claims(input, errors)?
                        && first
                    {
                        args.claims = Some(rules);
                    }
                }
                "crate" => {
                    if let Some(path) = parse_crate(input, errors)?
                        && first
                    {
                        args.krate = Some(path);
                    }
                }
                _ => skip_value(input)?,
            }
        }
        if known && !seen.contains(&name) {
            seen.push(name);
        }
        if input.is_empty() {
            break;
        }
        if !input.peek(Token![,]) {
            return Err(input.error("expected `,` between arguments"));
        }
        input.parse::<Token![,]>()?;
    }
    Ok(())
}

fn unknown_key(name: &str) -> String {
    let suggestion = KEYS
        .iter()
        .find(|key| edit_distance(name, key) <= 2)
        .map(|key| format!("; did you mean `{key}`?"))
        .unwrap_or_default();
    format!("unknown argument `{name}`, expected one of `claims`, `scopes`, `crate`{suggestion}")
}

fn example(name: &str) -> &'static str {
    match name {
        "scopes" => "`scopes = \"profile email\"`",
        "claims" => "`claims = {\"groups\": [\"admins\"]}`",
        _ => "`crate = \"my_oidc\"`",
    }
}

/// Levenshtein distance, for "did you mean" on short argument names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Skips the tokens of a value up to the next top-level `,`.
fn skip_value(input: ParseStream<'_>) -> syn::Result<()> {
    while !input.is_empty() && !input.peek(Token![,]) {
        input.parse::<TokenTree>()?;
    }
    Ok(())
}

/// Skips one value, recording `message` on its first token tree (a whole `[...]` or `{...}`).
fn reject_value(input: ParseStream<'_>, errors: &mut Errors, message: &str) -> syn::Result<()> {
    if input.is_empty() || input.peek(Token![,]) {
        return Err(input.error(message));
    }
    let first: TokenTree = input.parse()?;
    errors.push(syn::Error::new_spanned(first, message));
    skip_value(input)
}

/// `value` with control characters escaped, for messages that quote user strings.
fn printable(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `scopes = "a b"`: space-separated RFC 6749 §3.3 scope tokens, none twice.
fn parse_scopes(input: ParseStream<'_>, errors: &mut Errors) -> syn::Result<Option<Vec<String>>> {
    if !input.peek(LitStr) {
        reject_value(
            input,
            errors,
            "`scopes` takes a string literal of space-separated scopes, such as \
             `scopes = \"profile email\"`",
        )?;
        return Ok(None);
    }
    let literal: LitStr = input.parse()?;
    let value = literal.value();
    let mut scopes: Vec<String> = Vec::new();
    let mut valid = true;
    // `split_whitespace`, as the runtime's `Policy::with_scopes` splits.
    for scope in value.split_whitespace() {
        if let Some(bad) = scope.chars().find(|&c| !is_scope_char(c)) {
            valid = false;
            errors.at(
                literal.span(),
                format!(
                    "invalid character `{}` in scope `{}`; RFC 6749 §3.3 allows printable ASCII \
                     except space, `\"` and `\\`",
                    printable(&bad.to_string()),
                    printable(scope)
                ),
            );
        } else if scopes.iter().any(|known| known == scope) {
            valid = false;
            errors.at(
                literal.span(),
                format!("scope `{scope}` listed more than once"),
            );
        } else {
            scopes.push(scope.to_owned());
        }
    }
    if scopes.is_empty() && valid {
        errors.at(
            literal.span(),
            "`scopes` lists no scope; name at least one, or remove the argument to require none",
        );
        return Ok(None);
    }
    Ok(valid.then_some(scopes))
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn is_scope_char(c: char) -> bool {
    matches!(c, '\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E')
}

/// `crate = "path"` or `crate = path`.
fn parse_crate(input: ParseStream<'_>, errors: &mut Errors) -> syn::Result<Option<Path>> {
    const MESSAGE: &str = "`crate` takes the path of the `oidc_actix` crate, such as \
                           `crate = \"my_oidc\"` or `crate = my_oidc`";
    if input.peek(LitStr) {
        let literal: LitStr = input.parse()?;
        return match literal.parse_with(Path::parse_mod_style) {
            Ok(path) => Ok(Some(path)),
            Err(_) => {
                errors.at(literal.span(), MESSAGE);
                Ok(None)
            }
        };
    }
    if input.peek(Ident::peek_any) || input.peek(Token![::]) {
        let fork = input.fork();
        if fork.call(Path::parse_mod_style).is_ok() && (fork.is_empty() || fork.peek(Token![,])) {
            return input.call(Path::parse_mod_style).map(Some);
        }
    }
    reject_value(input, errors, MESSAGE)?;
    Ok(None)
}

/// `claims = {"path": value, ...}`.
fn parse_claims(
    input: ParseStream<'_>,
    errors: &mut Errors,
) -> syn::Result<Option<Vec<ClaimRule>>> {
    if !input.peek(token::Brace) {
        reject_value(
            input,
            errors,
            "`claims` takes a map of claim paths to values, such as \
             `claims = {\"groups\": [\"admins\"]}`",
        )?;
        return Ok(None);
    }
    let content;
    braced!(content in input);
    let mut rules: Vec<ClaimRule> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let mut valid = true;
    while !content.is_empty() {
        if !content.peek(LitStr) {
            return Err(content.error(
                "claim paths must be string literals, such as `\"groups\"` or \
                 `\"realm_access.roles\"`",
            ));
        }
        let key: LitStr = content.parse()?;
        let path = key.value();
        let mut rule_valid = true;
        if path.is_empty() {
            rule_valid = false;
            errors.at(key.span(), "claim path is empty");
        } else if path.split('.').any(str::is_empty) {
            rule_valid = false;
            errors.at(
                key.span(),
                format!(
                    "claim path `{}` has an empty segment; separate segments with one `.`",
                    printable(&path)
                ),
            );
        } else if seen.contains(&path) {
            rule_valid = false;
            errors.at(
                key.span(),
                format!("claim `{}` specified more than once", printable(&path)),
            );
        } else {
            seen.push(path.clone());
        }
        if !content.peek(Token![:]) {
            return Err(content.error(format!(
                "expected `:` after the claim path `{}`",
                printable(&path)
            )));
        }
        content.parse::<Token![:]>()?;
        match parse_claim_values(&content, errors)? {
            Some(values) if rule_valid => rules.push(ClaimRule { path, values }),
            _ => valid = false,
        }
        if content.is_empty() {
            break;
        }
        if !content.peek(Token![,]) {
            return Err(content.error("expected `,` between claims"));
        }
        content.parse::<Token![,]>()?;
    }
    Ok(valid.then_some(rules))
}

/// A scalar or a non-empty `[...]` list of scalars.
fn parse_claim_values(
    input: ParseStream<'_>,
    errors: &mut Errors,
) -> syn::Result<Option<Vec<ClaimValue>>> {
    if !input.peek(token::Bracket) {
        return Ok(parse_scalar(input, errors)?.map(|value| vec![value]));
    }
    let content;
    let brackets = bracketed!(content in input);
    let mut values = Vec::new();
    let mut valid = true;
    while !content.is_empty() {
        if content.peek(token::Bracket) {
            valid = false;
            let nested: TokenTree = content.parse()?;
            errors.push(syn::Error::new_spanned(
                nested,
                "claim value lists cannot be nested",
            ));
        } else {
            match parse_scalar(&content, errors)? {
                Some(value) => values.push(value),
                None => valid = false,
            }
        }
        if content.is_empty() {
            break;
        }
        if !content.peek(Token![,]) {
            return Err(content.error("expected `,` between claim values"));
        }
        content.parse::<Token![,]>()?;
    }
    if values.is_empty() && valid {
        errors.at(
            brackets.span.join(),
            "a claim needs at least one acceptable value; an empty list never matches",
        );
        return Ok(None);
    }
    Ok(valid.then_some(values))
}

const SCALARS: &str = "a string, `true`, `false`, an integer, or a `[...]` list of them";

/// A string, boolean or (possibly negative) integer literal.
fn parse_scalar(input: ParseStream<'_>, errors: &mut Errors) -> syn::Result<Option<ClaimValue>> {
    if input.peek(token::Brace) {
        let nested: TokenTree = input.parse()?;
        errors.push(syn::Error::new_spanned(
            nested,
            "nested objects are not supported as claim values; use a dotted path as the key, \
             such as `\"realm_access.roles\": [\"admin\"]`",
        ));
        return Ok(None);
    }
    let negative = if input.peek(Token![-]) {
        Some(input.parse::<Token![-]>()?)
    } else {
        None
    };
    if input.is_empty() || input.peek(Token![,]) {
        return Err(input.error(format!("expected a claim value: {SCALARS}")));
    }
    if !input.peek(Lit) {
        let token: TokenTree = input.parse()?;
        let message = match &token {
            TokenTree::Ident(ident) if matches!(ident.to_string().as_str(), "null" | "None") => {
                format!("`{ident}` is not a claim value; expected {SCALARS}")
            }
            _ => format!("expected a claim value: {SCALARS}"),
        };
        errors.push(syn::Error::new_spanned(token, message));
        return Ok(None);
    }
    let literal: Lit = input.parse()?;
    let value = match (&literal, negative) {
        (Lit::Str(s), None) => ClaimValue::Str(s.value()),
        (Lit::Bool(b), None) => ClaimValue::Bool(b.value),
        (Lit::Int(int), negative) => {
            if !int.suffix().is_empty() {
                errors.at(
                    int.span(),
                    format!(
                        "integer claim values take no type suffix; write `{}`",
                        int.base10_digits()
                    ),
                );
                return Ok(None);
            }
            let sign = if negative.is_some() { "-" } else { "" };
            match format!("{sign}{}", int.base10_digits()).parse::<i64>() {
                Ok(value) => ClaimValue::Int(value),
                Err(_) => {
                    errors.at(int.span(), "integer claim value does not fit in `i64`");
                    return Ok(None);
                }
            }
        }
        (Lit::Float(float), _) => {
            errors.at(
                float.span(),
                "floating-point claim values are not supported; claims compare strings, \
                 booleans and integers",
            );
            return Ok(None);
        }
        (_, Some(minus)) => {
            errors.at(minus.span, "only integer claim values can be negative");
            return Ok(None);
        }
        (other, None) => {
            errors.at(
                other.span(),
                format!("unsupported claim value; expected {SCALARS}"),
            );
            return Ok(None);
        }
    };
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn error(tokens: TokenStream) -> String {
        match parse_args(tokens) {
            Ok(args) => panic!("accepted: {args:?}"),
            Err(e) => e
                .into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(" | "),
        }
    }

    #[test]
    fn empty_arguments_are_the_default_policy() {
        let args = parse_args(TokenStream::new()).expect("valid");
        assert!(args.scopes.is_empty());
        assert_eq!(args.claims, None);
        assert!(args.krate.is_none());
    }

    #[test]
    fn all_arguments() {
        let args = parse_args(quote!(
            scopes = " profile  email ",
            claims = {"groups": ["admins", "staff"], "email_verified": true, "level": -3,},
            crate = "my_oidc",
        ))
        .expect("valid");
        assert_eq!(args.scopes, ["profile", "email"]);
        assert_eq!(
            args.claims.expect("claims"),
            [
                ClaimRule {
                    path: "groups".into(),
                    values: vec![
                        ClaimValue::Str("admins".into()),
                        ClaimValue::Str("staff".into())
                    ]
                },
                ClaimRule {
                    path: "email_verified".into(),
                    values: vec![ClaimValue::Bool(true)]
                },
                ClaimRule {
                    path: "level".into(),
                    values: vec![ClaimValue::Int(-3)]
                },
            ]
        );
        assert!(args.krate.expect("crate").is_ident("my_oidc"));
    }

    #[test]
    fn empty_claims_are_not_absent_claims() {
        let args = parse_args(quote!(claims = {})).expect("valid");
        assert_eq!(args.claims, Some(vec![]));
    }

    #[test]
    fn crate_as_a_path() {
        let args = parse_args(quote!(crate = ::deps::oidc)).expect("valid");
        let path = args.krate.expect("crate");
        assert_eq!(quote!(#path).to_string(), ":: deps :: oidc");
    }

    #[test]
    fn extreme_integers() {
        let args = parse_args(quote!(claims = {"n": [-9223372036854775808, 9223372036854775807]}))
            .expect("valid");
        assert_eq!(
            args.claims.expect("claims")[0].values,
            [ClaimValue::Int(i64::MIN), ClaimValue::Int(i64::MAX)]
        );
        assert!(error(quote!(claims = {"n": 9223372036854775808})).contains("`i64`"));
    }

    #[test]
    fn unknown_keys_list_the_valid_ones_and_suggest() {
        let message = error(quote!(scope = "a"));
        assert!(message.contains("unknown argument `scope`"), "{message}");
        assert!(message.contains("did you mean `scopes`?"), "{message}");
        assert!(!error(quote!(admin)).contains("did you mean"));
    }

    #[test]
    fn independent_errors_are_all_reported() {
        let message = error(quote!(scope = "a", scopes = "a a", claims = {"x": 1.5}));
        assert_eq!(message.matches(" | ").count(), 2, "{message}");
    }

    #[test]
    fn duplicates() {
        assert!(error(quote!(scopes = "a", scopes = "b")).contains("more than once"));
        assert!(error(quote!(claims = {"a": 1, "a": 2})).contains("more than once"));
        assert!(error(quote!(scopes = "a b a")).contains("scope `a` listed more than once"));
    }

    #[test]
    fn scope_validation() {
        assert!(error(quote!(scopes = "")).contains("lists no scope"));
        assert!(error(quote!(scopes = " \t ")).contains("lists no scope"));
        assert!(error(quote!(scopes = "caf\u{e9}")).contains("invalid character `\u{e9}`"));
        assert!(error(quote!(scopes = "a\"b")).contains("invalid character"));
        assert!(error(quote!(scopes = ["a"])).contains("string literal"));
    }

    #[test]
    fn claim_validation() {
        for (tokens, expected) in [
            (quote!(claims = {groups: "a"}), "string literals"),
            (quote!(claims = {"a..b": "x"}), "empty segment"),
            (quote!(claims = {".a": "x"}), "empty segment"),
            (quote!(claims = {"": "x"}), "is empty"),
            (quote!(claims = {"a": {"b": 1}}), "nested objects"),
            (quote!(claims = {"a": [["b"]]}), "cannot be nested"),
            (quote!(claims = {"a": []}), "at least one"),
            (
                quote!(claims = {"a": null, "a": 1}),
                "`a` specified more than once",
            ),
            (quote!(claims = {"a": 1.5}), "floating-point"),
            (quote!(claims = {"a": 1u8}), "suffix"),
            (quote!(claims = {"a": null}), "`null` is not a claim value"),
            (quote!(claims = {"a": -"x"}), "negative"),
            (quote!(claims = {"a" "b"}), "expected `:`"),
            (quote!(claims = {"a": 'c'}), "unsupported claim value"),
            (quote!(claims = ["a"]), "map of claim paths"),
        ] {
            let message = error(tokens.clone());
            assert!(message.contains(expected), "{tokens}: {message}");
        }
    }

    #[test]
    fn syntax() {
        assert!(error(quote!(scopes)).contains("expected `=` after `scopes`"));
        assert!(error(quote!("profile")).contains("write `scopes = "));
        assert!(error(quote!(scopes = "a" claims = {})).contains("expected `,`"));
        assert!(error(quote!(crate = 1)).contains("`crate` takes the path"));
        assert!(error(quote!(crate = "not a path")).contains("`crate` takes the path"));
    }

    #[test]
    fn recovery_keeps_the_valid_crate_path() {
        let tokens = quote!(crate = "my_oidc", scope = "x");
        assert!(parse_args(tokens.clone()).is_err());
        assert!(
            recover_args(tokens)
                .krate
                .expect("crate")
                .is_ident("my_oidc")
        );
    }
}
