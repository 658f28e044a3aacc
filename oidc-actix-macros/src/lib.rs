//! Attribute macros for [oidc-actix]: `#[auth::required]` and `#[auth::optional]`.
//!
//! Use them through `oidc_actix::auth`, never from this crate directly: the generated code names
//! `::oidc_actix::__private`, which exists only in the matching `oidc-actix` version (the facade
//! pins this crate to an exact version).
//!
//! Both attributes rewrite an `async fn` handler into *one* function, with the same name,
//! attributes (in order), doc comments, visibility, generics and where-clause. Only its first
//! parameter and, for `required`, its return type change; see each macro's "Equivalent code".
//! Emitting no item beside the function is what lets the attributes work on associated functions
//! in `impl` blocks and inside the `register` function that `#[get]` generates.
//!
//! Set `OIDC_ACTIX_MACROS_DEBUG=1` while compiling to print every expansion to stderr. rustc does
//! not track this variable: touch the file or run `cargo clean -p <your crate>` after changing it.
//!
//! [oidc-actix]: https://docs.rs/oidc-actix

mod args;
mod expand;
mod handler;

use std::ffi::OsStr;
use std::io::Write;

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;

use crate::handler::Kind;

/// Protects a handler: only requests with a valid bearer token that meets the route's policy
/// reach it.
///
/// # Syntax
///
/// ```text
/// #[auth::required]
/// #[auth::required(scopes = "SCOPE ...", claims = {"PATH": VALUE, ...}, crate = PATH)]
/// async fn NAME(TOKEN: IdToken, EXTRACTOR: TYPE, ...) -> RESPONDER { ... }
/// ```
///
/// The first parameter receives the token; its type is `IdToken` or `IdToken<YourClaims>`, and
/// its pattern can be a name, `mut name` or `_`. The other parameters are ordinary actix
/// extractors. The attribute can sit above or below `#[get(...)]`, `#[routes]` and other
/// attributes, which are kept in order.
///
/// # Arguments
///
/// All are optional, in any order, each at most once.
///
/// * `scopes = "profile email"` — space-separated scopes ([RFC 6749 §3.3] scope tokens), all of
///   which the token's `scope` claim must grant; otherwise `403` with
///   `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"` naming the missing ones.
/// * `claims = {"groups": ["admins"], "email_verified": true}` — claim constraints, written like
///   py-oidc-auth's Python dict. Keys are dotted claim paths (`"realm_access.roles"`,
///   `"resource_access.*.roles"`); values are a string, `true`/`false`, an integer (negative
///   allowed), or a non-empty `[...]` list of them. Within one key any listed value may match;
///   all keys must match; otherwise `403`. Scopes are checked first.
///   * `claims` **absent**: the default claims configured with `OidcAuthBuilder::claims` apply.
///   * `claims = {...}`: these constraints *replace* the defaults for this route.
///   * `claims = {}`: no claim constraints on this route, whatever the defaults.
/// * `crate = "my_oidc"` or `crate = my_oidc` — the path of `oidc-actix` when the dependency is
///   renamed in `Cargo.toml` (as with `tokio::main`'s `crate` argument).
///
/// # Examples
///
/// ```ignore
/// use actix_web::{HttpResponse, Responder, get, web};
/// use oidc_actix::{IdToken, auth};
///
/// #[get("/me")]
/// #[auth::required]
/// async fn me(token: IdToken) -> impl Responder {
///     format!("hello {}", token.sub.as_deref().unwrap_or("?"))
/// }
///
/// /// Only administrators with the `reports` scope.
/// #[get("/reports/{id}")]
/// #[auth::required(scopes = "reports", claims = {"groups": ["admins"]})]
/// async fn report(_: IdToken, id: web::Path<u32>) -> Result<HttpResponse, actix_web::Error> {
///     let id = id.into_inner();
///     Ok(HttpResponse::Ok().body(format!("report {id}")))
/// }
///
/// // Register the `OidcAuth` with the app, or every protected route answers 500:
/// // App::new().app_data(auth.clone()).service(me).service(report)
/// ```
///
/// # Equivalent code
///
/// The macro is sugar over the `Authenticated` extractor and a `Policy`. The `report` handler
/// above behaves like this code, which does not use the macro:
///
/// ```ignore
/// use std::sync::LazyLock;
/// use actix_web::{HttpResponse, get, web};
/// use oidc_actix::{Authenticated, ClaimConstraints, Policy};
///
/// static POLICY: LazyLock<Policy> = LazyLock::new(|| {
///     Policy::authenticated()
///         .with_scopes("reports")
///         .expect("valid scopes")
///         .with_claims(ClaimConstraints::new().require("groups", ["admins"]))
/// });
///
/// #[get("/reports/{id}")]
/// async fn report(
///     auth: Authenticated,
///     id: web::Path<u32>,
/// ) -> Result<HttpResponse, actix_web::Error> {
///     let _token = auth.authorize(&POLICY)?; // `AuthError`: 403 for scopes and claims
///     let id = id.into_inner();
///     Ok(HttpResponse::Ok().body(format!("report {id}")))
/// }
/// ```
///
/// What the macro generates works for any return type, not only `Result`, and checks the
/// arguments at compile time (abridged; `OIDC_ACTIX_MACROS_DEBUG=1` shows the real thing):
///
/// ```text
/// async fn report(
///     __oidc_actix_token: ::oidc_actix::__private::Required<IdToken>,
///     id: web::Path<u32>,
/// ) -> ::oidc_actix::__private::Guarded<Result<HttpResponse, actix_web::Error>> {
///     let _ = <web::Path<u32> as FromRequest>::extract; // a non-extractor is reported on its type
///     static __OIDC_ACTIX_POLICY: Policy = Policy::new(&["reports"], Some(/* claims */));
///     let _: IdToken = match __oidc_actix_token.authorize(&__OIDC_ACTIX_POLICY) {
///         Ok(token) => token,
///         Err(denied) => return Guarded::denied(denied), // 403
///     };
///     // The body, in its own block so that `return` and `?` keep their meaning; the
///     // unreachable `return` pins the block's type to the declared one.
///     Guarded::allowed(async move {
///         if false { let r: Result<HttpResponse, actix_web::Error> = loop {}; return r; }
///         { let id = id.into_inner(); Ok(HttpResponse::Ok().body(format!("report {id}"))) }
///     }.await)
/// }
/// ```
///
/// # Behaviour
///
/// * No token, or an invalid one: `401` with `{"detail": "..."}` and a `WWW-Authenticate: Bearer`
///   challenge, before any other extractor's error. The token extractor is the first parameter,
///   and with the provider's keys cached it completes at once, so a body extractor such as
///   `web::Json` cannot answer first. (actix polls all extractors of a handler together; while
///   the keys are first being fetched, a malformed body can be reported before the 401.)
/// * Valid token, scopes or claims not met: `403`. Valid and allowed: the handler runs.
/// * No `OidcAuth` registered with `App::app_data` or `auth.routes(...)`: `500`, logged with
///   the fix.
///
/// # Limitations
///
/// * The handler's type changes: it takes a private extractor and, here, returns a private
///   responder. Register it with actix as usual (`#[get]`, `.to(handler)`, `.service(...)`), and
///   test it through `actix_web::test`, not by calling it directly.
/// * A second `#[auth::required]` or `#[auth::optional]` is detected by its path ending in
///   `auth::required` / `auth::optional`; an attribute imported under another name is not.
/// * The token must be the first parameter, so a handler has at most 15 other extractors
///   (actix's limit is 16 parameters in all).
/// * Extractors written as `impl Trait` are not checked one by one (actix still checks them).
/// * A token type written other than as `IdToken<…>` (here) or `Option<IdToken<…>>`
///   (`optional`), such as a type alias, is checked in a constant, which is what makes a wrong
///   one a single error. A constant cannot use generic parameters: a type that mentions the
///   handler's own is named directly instead (a wrong one is then reported twice, see below),
///   and an alias that takes a parameter of the surrounding `impl` block is rejected with
///   "generic parameters may not be used in const operations"; write `IdToken<C>` there.
///
/// # Errors you may meet
///
/// Each error points at the token at fault, and an error in the arguments does not hide the
/// handler (it is still generated, with the default policy), so it is the only error shown:
///
/// ```text
/// error: unknown argument `scope`, expected one of `claims`, `scopes`, `crate`; did you mean `scopes`?
/// error: `scopes` specified more than once
/// error: `scopes` lists no scope; name at least one, or remove the argument to require none
/// error: invalid character `é` in scope `café`; RFC 6749 §3.3 allows printable ASCII except space, `"` and `\`
/// error: scope `profile` listed more than once
/// error: claim paths must be string literals, such as `"groups"` or `"realm_access.roles"`
/// error: claim path `realm_access..roles` has an empty segment; separate segments with one `.`
/// error: nested objects are not supported as claim values; use a dotted path as the key, such as `"realm_access.roles": ["admin"]`
/// error: floating-point claim values are not supported; claims compare strings, booleans and integers
/// error: a claim needs at least one acceptable value; an empty list never matches
/// error: the `async` keyword is missing from the handler declaration
/// error: handler has no parameters; `#[auth::required]` passes the token as the first one, such as `token: IdToken`
/// error: handlers cannot take `self`; the first parameter receives the token, such as `token: IdToken`
/// error: handler has no return type; add one that implements `Responder`, such as `-> impl Responder`
/// error: `#[auth::required]` can only be applied to async handler functions
/// error: `#[auth::required]` is applied more than once
/// error: `#[auth::optional]` cannot be combined with `#[auth::required]`; use one of them
/// ```
///
/// A token parameter of the wrong type is reported on that type, by the compiler:
///
/// ```text
/// error[E0277]: `#[auth::required]` passes the validated token as `IdToken` (or `IdToken<YourClaims>`), not `String`
///  --> src/main.rs:5:25
///   |
/// 5 | async fn handler(token: String) -> String {
///   |                         ^^^^^^ expected `IdToken` or `IdToken<YourClaims>`
/// ```
///
/// and by nothing else: neither the handler's body nor its registration (`.to(handler)`,
/// `#[get]`) reports it again. (Only a wrong type that mentions the handler's generic
/// parameters, such as `Option<IdToken<C>>`, is followed by "the method `authorize` exists for
/// struct `Required<Option<IdToken<C>>>`, but its trait bounds were not satisfied".) A
/// parameter that is not an extractor gives "the trait bound `MyType: FromRequest` is not
/// satisfied" on its type, then actix's own error on the route, which names the whole handler.
/// A type error in the body is reported in the body, with a note "return type inferred to be
/// `…` here" on the declared return type.
///
/// An unbalanced bracket in `claims = {...}` is a lexer error ("mismatched closing delimiter"),
/// reported by rustc before the macro runs.
///
/// [RFC 6749 §3.3]: https://www.rfc-editor.org/rfc/rfc6749#section-3.3
#[proc_macro_attribute]
pub fn required(args: TokenStream, item: TokenStream) -> TokenStream {
    entry(Kind::Required, args.into(), item.into()).into()
}

/// Lets every request through, passing the token only when there is a valid one that meets the
/// route's policy.
///
/// # Syntax
///
/// ```text
/// #[auth::optional]
/// #[auth::optional(scopes = "SCOPE ...", claims = {"PATH": VALUE, ...}, crate = PATH)]
/// async fn NAME(TOKEN: Option<IdToken>, EXTRACTOR: TYPE, ...) -> RESPONDER { ... }
/// ```
///
/// The first parameter's type is `Option<IdToken>` or `Option<IdToken<YourClaims>>`.
///
/// # Arguments
///
/// The same as [`macro@required`]: `scopes`, `claims` (absent, `{...}` or `{}`) and `crate`.
/// Here a token that lacks a scope or fails a claim is treated like no token: `None`.
///
/// # Examples
///
/// ```ignore
/// use actix_web::{Responder, get};
/// use oidc_actix::{IdToken, auth};
///
/// #[get("/greeting")]
/// #[auth::optional]
/// async fn greeting(token: Option<IdToken>) -> impl Responder {
///     match token {
///         Some(token) => format!("hello {}", token.sub),
///         None => "hello stranger".to_owned(),
///     }
/// }
/// ```
///
/// # Equivalent code
///
/// ```ignore
/// #[get("/greeting")]
/// async fn greeting(auth: oidc_actix::MaybeAuthenticated) -> impl Responder {
///     let token: Option<IdToken> = auth.authorize(&oidc_actix::Policy::DEFAULT);
///     // the body
/// }
/// ```
///
/// The generated code has a private first parameter,
/// `::oidc_actix::__private::Optional<Option<IdToken>>`, and keeps the return type.
///
/// # Behaviour
///
/// No token, an invalid or expired one, one that fails the policy, or an unreachable identity
/// provider: the handler runs with `None` (as py-oidc-auth's `optional`). Only a server without
/// a registered `OidcAuth` answers `500`.
///
/// # Limitations and errors
///
/// As for [`macro@required`]; `IdToken` without `Option` is reported on the type:
///
/// ```text
/// error[E0277]: `#[auth::optional]` passes the token as `Option<IdToken>` (or `Option<IdToken<YourClaims>>`), not `IdToken`
/// ```
#[proc_macro_attribute]
pub fn optional(args: TokenStream, item: TokenStream) -> TokenStream {
    entry(Kind::Optional, args.into(), item.into()).into()
}

/// Parse, check, expand; errors are appended to the output, never instead of it.
fn entry(kind: Kind, args: TokenStream2, item: TokenStream2) -> TokenStream2 {
    // An argument error must not hide the handler: expand with what was valid (the default
    // policy, the `crate` path if it parsed) and append the error, so the user sees one error
    // and not a cascade of "cannot find `handler`" at the registration (tokio-macros does this).
    let (args, args_error) = match args::parse_args(args.clone()) {
        Ok(parsed) => (parsed, None),
        Err(error) => (args::recover_args(args), Some(error)),
    };
    let (mut output, handler_error) = match handler::parse_handler(kind, item.clone()) {
        Ok(checked) => (
            expand::expand(kind, &args, &checked.handler),
            checked.errors,
        ),
        Err(error) => (item, Some(error)),
    };
    for error in [args_error, handler_error].into_iter().flatten() {
        output.extend(error.to_compile_error());
    }
    debug_print(kind, &output);
    output
}

/// Prints the expansion when `OIDC_ACTIX_MACROS_DEBUG` is set (and not `0`), as axum-macros'
/// `AXUM_MACROS_DEBUG` does. Write errors are ignored: debugging output must not break a build.
fn debug_print(kind: Kind, output: &TokenStream2) {
    if debug_enabled(std::env::var_os("OIDC_ACTIX_MACROS_DEBUG").as_deref()) {
        let _ = write_expansion(&mut std::io::stderr().lock(), kind, output);
    }
}

fn debug_enabled(value: Option<&OsStr>) -> bool {
    value.is_some_and(|value| !value.is_empty() && value != "0")
}

fn write_expansion(out: &mut impl Write, kind: Kind, output: &TokenStream2) -> std::io::Result<()> {
    writeln!(out, "// expansion of {}\n{output}\n", kind.attribute())
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn an_argument_error_still_expands_the_handler_with_the_valid_crate_path() {
        let output = entry(
            Kind::Required,
            quote!(crate = my_oidc, scope = "x"),
            quote!(
                async fn h(token: IdToken) -> String {
                    token.sub()
                }
            ),
        )
        .to_string();
        assert!(
            output.contains("my_oidc :: __private :: Required < IdToken >"),
            "{output}"
        );
        assert!(output.contains("Policy :: new (& [] , :: core :: option :: Option :: None)"));
        assert_eq!(output.matches("compile_error").count(), 1, "{output}");
    }

    #[test]
    fn an_unusable_item_is_emitted_unchanged_with_the_error() {
        let item = quote!(
            struct S;
        );
        let output = entry(Kind::Optional, quote!(), item.clone()).to_string();
        assert!(output.starts_with(&item.to_string()), "{output}");
        assert!(output.contains("compile_error"));
    }

    #[test]
    fn debug_output_is_switched_by_the_environment_variable() {
        assert!(!debug_enabled(None));
        assert!(!debug_enabled(Some(OsStr::new(""))));
        assert!(!debug_enabled(Some(OsStr::new("0"))));
        assert!(debug_enabled(Some(OsStr::new("1"))));
        let mut out = Vec::new();
        write_expansion(
            &mut out,
            Kind::Required,
            &quote!(
                async fn h() {}
            ),
        )
        .expect("written");
        assert_eq!(
            String::from_utf8_lossy(&out),
            "// expansion of #[auth::required]\nasync fn h () { }\n\n"
        );
    }
}
