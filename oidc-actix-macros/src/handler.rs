//! The handler model: what the attribute is applied to, and the checks on its shape.
//!
//! The body is kept as opaque tokens (as `tracing-attributes` and `tokio-macros` do): parsing is
//! faster, and the macro keeps working while the body has syntax errors, which IDEs need.

use proc_macro2::{Span, TokenStream};
use syn::parse::{ParseStream, Parser};
use syn::{
    Abi, Attribute, FnArg, PatType, ReturnType, Signature, Token, Type, Visibility, braced, token,
};

/// Which attribute is being expanded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `#[auth::required]`: a valid token that meets the policy, or the error response.
    Required,
    /// `#[auth::optional]`: the token if there is a valid one that meets the policy, else `None`.
    Optional,
}

impl Kind {
    /// The attribute as users write it, for error messages.
    pub fn attribute(self) -> &'static str {
        match self {
            Self::Required => "#[auth::required]",
            Self::Optional => "#[auth::optional]",
        }
    }

    /// An example of the token parameter this attribute expects.
    fn example(self) -> &'static str {
        match self {
            Self::Required => "`token: IdToken`",
            Self::Optional => "`token: Option<IdToken>`",
        }
    }
}

/// A handler function that the attribute can rewrite.
pub struct Handler {
    /// Outer attributes, in order (doc comments, route attributes, lints), minus a second
    /// `#[auth::…]` attribute, which is reported.
    pub attrs: Vec<Attribute>,
    /// The visibility, kept as written.
    pub vis: Visibility,
    /// The signature, repaired when a check failed (made `async`, qualifiers removed), so the
    /// expansion compiles and only the macro's error is shown.
    pub sig: Signature,
    /// The body's braces, reused so the function's span ends in user code (rustc does not report
    /// `dead_code` on items whose span comes from a macro, so a generated `}` would hide it).
    pub brace: token::Brace,
    /// `#![...]` attributes at the top of the body; they stay at the top of the function.
    pub inner_attrs: Vec<Attribute>,
    /// The body, as opaque tokens.
    pub body: TokenStream,
    /// The first parameter, which receives the token.
    pub token: PatType,
    /// The other parameters, in order: further extractors.
    pub rest: Vec<PatType>,
    /// The declared return type.
    pub output: Box<Type>,
}

/// A handler and the errors found in it that could be repaired for the expansion.
pub struct Checked {
    /// The handler, ready to expand.
    pub handler: Handler,
    /// Errors to report next to the expansion.
    pub errors: Option<syn::Error>,
}

/// An `async fn` whose body is left unparsed.
struct RawFn {
    attrs: Vec<Attribute>,
    vis: Visibility,
    sig: Signature,
    brace: token::Brace,
    inner_attrs: Vec<Attribute>,
    body: TokenStream,
}

/// Parses and checks the item the attribute is applied to.
///
/// An `Err` means the item is not a function with a token parameter and a return type; the
/// caller emits it unchanged with the error, as `actix-web-codegen` does, so IDEs keep working.
pub fn parse_handler(kind: Kind, item: TokenStream) -> syn::Result<Checked> {
    let raw = (|input: ParseStream<'_>| parse_raw(kind, input)).parse2(item)?;
    check(kind, raw)
}

fn parse_raw(kind: Kind, input: ParseStream<'_>) -> syn::Result<RawFn> {
    let attrs = input.call(Attribute::parse_outer)?;
    let vis: Visibility = input.parse()?;
    if !starts_a_fn(input) {
        return Err(input.error(format!(
            "`{}` can only be applied to async handler functions",
            kind.attribute()
        )));
    }
    let sig: Signature = input.parse()?;
    if input.peek(Token![;]) {
        return Err(input.error(format!("`{}` needs a function body", kind.attribute())));
    }
    let content;
    let brace = braced!(content in input);
    let inner_attrs = content.call(Attribute::parse_inner)?;
    let body: TokenStream = content.parse()?;
    Ok(RawFn {
        attrs,
        vis,
        sig,
        brace,
        inner_attrs,
        body,
    })
}

/// Whether the next tokens are `[const] [async] [unsafe] [extern "abi"] fn`.
fn starts_a_fn(input: ParseStream<'_>) -> bool {
    let fork = input.fork();
    let qualifiers = fork.parse::<Option<Token![const]>>().is_ok()
        && fork.parse::<Option<Token![async]>>().is_ok()
        && fork.parse::<Option<Token![unsafe]>>().is_ok()
        && fork.parse::<Option<Abi>>().is_ok();
    qualifiers && fork.peek(Token![fn])
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

fn check(kind: Kind, raw: RawFn) -> syn::Result<Checked> {
    let RawFn {
        attrs,
        vis,
        mut sig,
        brace,
        inner_attrs,
        body,
    } = raw;
    let attribute = kind.attribute();
    // Repairable: reported, then fixed so the expansion compiles without follow-up errors.
    let mut errors = Errors::default();
    // Not repairable: the item is emitted unchanged.
    let mut fatal = Errors::default();

    let attrs = attrs
        .into_iter()
        .filter(|attr| match auth_attribute(attr) {
            Some(other) => {
                let message = if other == kind {
                    format!("`{attribute}` is applied more than once")
                } else {
                    format!(
                        "`{}` cannot be combined with `{attribute}`; use one of them",
                        other.attribute()
                    )
                };
                errors.push(syn::Error::new_spanned(attr, message));
                false
            }
            None => true,
        })
        .collect();

    if let Some(constness) = sig.constness.take() {
        errors.at(
            constness.span,
            format!("`{attribute}` cannot be applied to a `const fn`"),
        );
    }
    if sig.asyncness.is_none() {
        errors.at(
            sig.fn_token.span,
            "the `async` keyword is missing from the handler declaration",
        );
        sig.asyncness = Some(Token![async](sig.fn_token.span));
    }
    if let Some(unsafety) = sig.unsafety.take() {
        errors.at(
            unsafety.span,
            format!("`{attribute}` cannot be applied to an `unsafe fn`"),
        );
    }
    if let Some(abi) = sig.abi.take() {
        errors.push(syn::Error::new_spanned(
            abi,
            "handlers cannot have an `extern` ABI",
        ));
    }
    if let Some(variadic) = sig.variadic.take() {
        errors.push(syn::Error::new_spanned(
            variadic.dots,
            "handlers cannot be variadic",
        ));
    }

    let mut params = sig.inputs.iter();
    let token = match params.next() {
        None => {
            fatal.at(
                sig.paren_token.span.join(),
                format!(
                    "handler has no parameters; `{attribute}` passes the token as the first \
                     one, such as {}",
                    kind.example()
                ),
            );
            None
        }
        Some(FnArg::Receiver(receiver)) => {
            fatal.push(syn::Error::new_spanned(
                receiver,
                format!(
                    "handlers cannot take `self`; the first parameter receives the token, such \
                     as {}",
                    kind.example()
                ),
            ));
            None
        }
        Some(FnArg::Typed(token)) => {
            let mut token = token.clone();
            for attr in std::mem::take(&mut token.attrs) {
                errors.push(syn::Error::new_spanned(
                    attr,
                    "attributes on the token parameter are not supported",
                ));
            }
            Some(token)
        }
    };
    let rest: Vec<PatType> = params
        .filter_map(|param| match param {
            FnArg::Typed(param) => Some(param.clone()),
            // A receiver after the first parameter does not parse as Rust; rustc reports it.
            FnArg::Receiver(_) => None,
        })
        .collect();

    let output = match &sig.output {
        ReturnType::Type(_, output) => Some(output.clone()),
        ReturnType::Default => {
            // As `actix-web-codegen` does: without this, the error surfaces at registration
            // and names the macro's private return type.
            fatal.push(syn::Error::new_spanned(
                &sig,
                "handler has no return type; add one that implements `Responder`, such as \
                 `-> impl Responder`",
            ));
            None
        }
    };

    match (token, output, fatal.0) {
        (Some(token), Some(output), None) => Ok(Checked {
            handler: Handler {
                attrs,
                vis,
                sig,
                brace,
                inner_attrs,
                body,
                token,
                rest,
                output,
            },
            errors: errors.0,
        }),
        (_, _, fatal) => {
            let mut all = Errors::default();
            if let Some(error) = errors.0 {
                all.push(error);
            }
            if let Some(error) = fatal {
                all.push(error);
            }
            Err(all.0.unwrap_or_else(|| {
                syn::Error::new(Span::call_site(), "handler cannot be rewritten")
            }))
        }
    }
}

/// Which of the two attributes `attr` is, recognized by its last two path segments
/// (`#[auth::required]`, `#[oidc_actix::auth::optional]`).
fn auth_attribute(attr: &Attribute) -> Option<Kind> {
    let segments: Vec<String> = attr
        .path()
        .segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect();
    match segments.as_slice() {
        [.., module, name] if module == "auth" => match name.as_str() {
            "required" => Some(Kind::Required),
            "optional" => Some(Kind::Optional),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn rejected(kind: Kind, item: TokenStream) -> String {
        match parse_handler(kind, item) {
            Ok(Checked {
                errors: Some(e), ..
            })
            | Err(e) => e.to_string(),
            Ok(Checked { errors: None, .. }) => panic!("accepted"),
        }
    }

    #[test]
    fn a_handler_is_split_into_token_rest_and_output() {
        let item = quote! {
            /// Docs.
            #[get("/")]
            pub async fn h(mut token: IdToken, path: web::Path<u32>) -> impl Responder {
                #![allow(unused)]
                token
            }
        };
        let Ok(Checked {
            handler,
            errors: None,
        }) = parse_handler(Kind::Required, item)
        else {
            panic!("rejected")
        };
        assert_eq!(handler.attrs.len(), 2);
        assert_eq!(handler.inner_attrs.len(), 1);
        assert_eq!(handler.rest.len(), 1);
        assert_eq!(handler.body.to_string(), "token");
    }

    #[test]
    fn shape_errors() {
        let required = Kind::Required;
        for (item, expected) in [
            (
                quote!(
                    struct S;
                ),
                "can only be applied to async handler functions",
            ),
            (
                quote!(
                    mod m {}
                ),
                "can only be applied to async handler functions",
            ),
            (
                quote!(
                    const X: u8 = 1;
                ),
                "can only be applied to async handler functions",
            ),
            (
                quote!(
                    fn h(t: IdToken) -> String {
                        todo!()
                    }
                ),
                "`async` keyword is missing",
            ),
            (
                quote!(
                    async fn h() -> String {
                        todo!()
                    }
                ),
                "handler has no parameters",
            ),
            (
                quote!(
                    async fn h(&self) -> String {
                        todo!()
                    }
                ),
                "cannot take `self`",
            ),
            (
                quote!(
                    async fn h(t: IdToken) {
                        todo!()
                    }
                ),
                "has no return type",
            ),
            (
                quote!(
                    async fn h(t: IdToken) -> String;
                ),
                "needs a function body",
            ),
            (
                quote!(
                    async fn h(#[cfg(x)] t: IdToken) -> String {
                        todo!()
                    }
                ),
                "attributes on the token parameter are not supported",
            ),
            (
                quote!(
                    async unsafe extern "C" fn h(t: IdToken, _: ...) -> String {
                        todo!()
                    }
                ),
                "cannot be applied to an `unsafe fn`",
            ),
            (
                quote!(
                    #[auth::required]
                    async fn h(t: IdToken) -> String {
                        todo!()
                    }
                ),
                "applied more than once",
            ),
            (
                quote!(
                    #[oidc_actix::auth::optional]
                    async fn h(t: IdToken) -> String {
                        todo!()
                    }
                ),
                "`#[auth::optional]` cannot be combined with `#[auth::required]`",
            ),
        ] {
            let message = rejected(required, item.clone());
            assert!(message.contains(expected), "{item}: {message}");
        }
    }
}
