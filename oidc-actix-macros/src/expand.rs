//! The expansion: one rewritten function, nothing beside it.
//!
//! A sibling item (a policy type, a check function) would not be allowed where handlers often
//! live, such as an `impl` block or the `register` function `#[get]` nests handlers in, so the
//! policy is a `static` inside the function.

use proc_macro2::{Delimiter, Group, Ident, Literal, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{
    GenericArgument, GenericParam, Generics, PathArguments, PathSegment, Signature, Token, Type,
};

use crate::args::{Args, ClaimValue};
use crate::handler::{Handler, Kind};

/// The rewritten handler.
///
/// The token parameter becomes a hidden first parameter (`Required<T>` or `Optional<T>`, where
/// `T` is the user's type with the user's span, so a wrong type is reported on it, once: see
/// [`hidden_type`]); the other parameters, attributes, visibility, generics and where-clause
/// are kept as written.
pub fn expand(kind: Kind, args: &Args, handler: &Handler) -> TokenStream {
    let private = match &args.krate {
        Some(path) => quote!(#path::__private),
        None => quote!(::oidc_actix::__private),
    };
    let Handler {
        attrs,
        vis,
        sig,
        brace,
        inner_attrs,
        body,
        token,
        rest,
        output,
    } = handler;
    let Signature {
        asyncness,
        fn_token,
        ident,
        generics,
        ..
    } = sig;
    let where_clause = &generics.where_clause;
    let token_pat = &token.pat;
    let token_ty = &token.ty;
    let hidden = Ident::new("__oidc_actix_token", Span::mixed_site());
    let policy = policy(&private, args);
    // One assertion per extractor, on its type, so a non-extractor is reported there (axum's
    // `debug_handler`) and not only at the route registration. A path to a trait item rather
    // than a call of a bounded function of ours, so that the error names none of ours; all of
    // it on the type, so that rustc reports the path's two obligations as one error. `impl
    // Trait` types cannot be named here; actix reports those.
    let assertions = rest
        .iter()
        .filter(|param| !contains_impl_trait(&param.ty))
        .map(|param| {
            let ty = &param.ty;
            quote_spanned! {ty.span()=>
                let _ = <#ty as #private::actix_web::FromRequest>::extract;
            }
        });
    // A method call rather than `<#param_ty>::authorize`: naming the type again would repeat
    // the token type's check (`hidden_type`). Spanned on the token type, so that a bound the
    // direct form leaves unmet is reported there.
    let authorize = Ident::new("authorize", token_ty.span());
    let policy_item = quote! {
        static __OIDC_ACTIX_POLICY: #private::Policy = #policy;
    };

    let param_ty = hidden_type(kind, &private, token_ty, generics);
    let (ret, body) = match kind {
        Kind::Required => {
            let ret = quote_spanned! {output.span()=> #private::Guarded<#output> };
            let fake_return = fake_return_edge(output);
            let (ok, err) = (
                Ident::new("__oidc_actix_ok", Span::mixed_site()),
                Ident::new("__oidc_actix_err", Span::mixed_site()),
            );
            let body = quote! {
                #(#inner_attrs)*
                #(#assertions)*
                #policy_item
                let #token_pat: #token_ty = match #hidden.#authorize(&__OIDC_ACTIX_POLICY) {
                    ::core::result::Result::Ok(#ok) => #ok,
                    ::core::result::Result::Err(#err) => {
                        return #private::Guarded::denied(#err);
                    }
                };
                // The body runs in its own `async` block so that its `return` and `?` keep
                // their meaning: they produce the declared return type, not `Guarded`.
                #private::Guarded::allowed(async move { #fake_return { #body } }.await)
            };
            (ret, body)
        }
        Kind::Optional => {
            let body = quote! {
                #(#inner_attrs)*
                #(#assertions)*
                #policy_item
                let #token_pat: #token_ty = #hidden.#authorize(&__OIDC_ACTIX_POLICY);
                #body
            };
            (output.to_token_stream(), body)
        }
    };

    // The user's parentheses and braces, so the item's span starts and ends in user code.
    let mut item = quote! {
        #(#attrs)*
        #vis #asyncness #fn_token #ident #generics
    };
    sig.paren_token.surround(&mut item, |params| {
        params.extend(quote!(#hidden: #param_ty #(, #rest)*));
    });
    item.extend(quote!(-> #ret #where_clause));
    brace.surround(&mut item, |block| block.extend(body));
    item
}

/// `Policy::new(&[scopes], claims)`, a constant expression.
///
/// The rule and value arrays sit in `const { }` blocks: their elements have drop glue (`Cow`), so
/// as plain `&[...]` arguments they would be temporaries dropped at the end of the `static`'s
/// initializer, which rustc rejects (E0493); a `const` block's result lives for `'static`.
fn policy(private: &TokenStream, args: &Args) -> TokenStream {
    let scopes = &args.scopes;
    let claims = match &args.claims {
        // Absent: the configured default claims apply.
        None => quote!(::core::option::Option::None),
        Some(rules) => {
            let rules = rules.iter().map(|rule| {
                let path = &rule.path;
                let values = rule.values.iter().map(|value| match value {
                    ClaimValue::Str(s) => quote!(#private::ClaimValue::str(#s)),
                    ClaimValue::Bool(b) => quote!(#private::ClaimValue::Bool(#b)),
                    ClaimValue::Int(i) => {
                        let i = Literal::i64_unsuffixed(*i);
                        quote!(#private::ClaimValue::Int(#i))
                    }
                });
                quote!(#private::ClaimRule::new(#path, const { &[#(#values),*] }))
            });
            quote! {
                ::core::option::Option::Some(
                    #private::ClaimConstraints::from_static(const { &[#(#rules),*] })
                )
            }
        }
    };
    quote!(#private::Policy::new(&[#(#scopes),*], #claims))
}

/// An unreachable `return` of the declared type, which pins the `async` block's output type
/// before the body is checked (`tracing-attributes`' "fake return edge"): without it, `?` in the
/// body could not infer its error type, and a type error would be reported far from its cause.
/// `impl Trait` cannot be named in a `let`, so it becomes `_` (`Result<impl Responder, E>` still
/// pins `E`); a return type that is `impl Trait` as a whole gets no edge, as it would pin nothing.
fn fake_return_edge(output: &Type) -> TokenStream {
    let mut erased = output.clone();
    erase_impl_trait(&mut erased);
    if matches!(erased, Type::Infer(_)) {
        return TokenStream::new();
    }
    quote_spanned! {output.span()=>
        #[allow(
            unknown_lints,
            unreachable_code,
            clippy::diverging_sub_expression,
            clippy::empty_loop,
            clippy::let_unit_value,
            clippy::let_with_type_underscore,
            clippy::needless_return,
            clippy::unreachable
        )]
        if false {
            let __oidc_actix_fake_return: #erased = loop {};
            return __oidc_actix_fake_return;
        }
    }
}

/// Replaces every `impl Trait` in `ty` by `_`.
fn erase_impl_trait(ty: &mut Type) {
    match ty {
        Type::ImplTrait(impl_trait) => {
            *ty = Type::Infer(syn::TypeInfer {
                underscore_token: Token![_](impl_trait.impl_token.span),
            });
        }
        Type::Path(path) => {
            if let Some(qself) = &mut path.qself {
                erase_impl_trait(&mut qself.ty);
            }
            for segment in &mut path.path.segments {
                if let PathArguments::AngleBracketed(args) = &mut segment.arguments {
                    for arg in &mut args.args {
                        if let GenericArgument::Type(ty) = arg {
                            erase_impl_trait(ty);
                        }
                    }
                }
            }
        }
        Type::Reference(reference) => erase_impl_trait(&mut reference.elem),
        Type::Ptr(pointer) => erase_impl_trait(&mut pointer.elem),
        Type::Slice(slice) => erase_impl_trait(&mut slice.elem),
        Type::Array(array) => erase_impl_trait(&mut array.elem),
        Type::Paren(paren) => erase_impl_trait(&mut paren.elem),
        Type::Group(group) => erase_impl_trait(&mut group.elem),
        Type::Tuple(tuple) => tuple.elems.iter_mut().for_each(erase_impl_trait),
        _ => {}
    }
}

/// The hidden parameter's type: `Required<T>` or `Optional<T>` for the user's token type `T`.
///
/// Through `__private::TokenCheck`, whose constant turns a wrong type into exactly one error, on
/// the type, instead of a further one at every place that uses the handler (its body,
/// `.to(handler)`, `#[get]`). A constant cannot use generic parameters, so `T` is written
/// directly when it mentions the handler's, and when it has the expected shape (`IdToken<…>`,
/// `Option<IdToken<…>>`), whose claims type may be a parameter of a surrounding `impl` that the
/// macro cannot see. A type alias that takes such a parameter is the one accepted type that
/// cannot work (rustc: "generic parameters may not be used in const operations"), documented as
/// a limitation.
fn hidden_type(kind: Kind, private: &TokenStream, ty: &Type, generics: &Generics) -> TokenStream {
    let (wrapper, token_trait, param_trait) = match kind {
        Kind::Required => (
            quote!(#private::Required),
            quote!(#private::RequiredToken),
            quote!(#private::RequiredParam),
        ),
        Kind::Optional => (
            quote!(#private::Optional),
            quote!(#private::OptionalToken),
            quote!(#private::OptionalParam),
        ),
    };
    let spans = WrapperSpans::new(private, ty);
    if has_expected_shape(kind, ty) || mentions_generics(ty, generics) {
        return spans.wrap(wrapper, ty.to_token_stream());
    }
    // `<TokenCheck<T, { <T as RequiredToken>::ACCEPTED }> as RequiredParam>::Extractor`.
    let mut accepted = spans.respan(quote!(<));
    accepted.extend(ty.to_token_stream());
    accepted.extend(spans.respan(quote!(as #token_trait>::ACCEPTED)));
    let mut constant = Group::new(Delimiter::Brace, accepted);
    constant.set_span(spans.first);
    let mut arguments = ty.to_token_stream();
    arguments.extend(spans.respan(quote!(,)));
    arguments.extend([TokenTree::Group(constant)]);
    let mut checked = spans.respan(quote!(<));
    checked.extend(spans.wrap(quote!(#private::TokenCheck), arguments));
    checked.extend(spans.respan(quote!(as #param_trait>::Extractor)));
    checked
}

/// Whether `ty` is written the way the attribute expects its token type: a path ending in
/// `IdToken` for `required`, `Option<…IdToken…>` for `optional`.
fn has_expected_shape(kind: Kind, ty: &Type) -> bool {
    let Some(segment) = last_segment(ty) else {
        return false;
    };
    match kind {
        Kind::Required => segment.ident == "IdToken",
        Kind::Optional => {
            segment.ident == "Option"
                && matches!(
                    &segment.arguments,
                    PathArguments::AngleBracketed(args)
                        if matches!(
                            args.args.first(),
                            Some(GenericArgument::Type(inner))
                                if has_expected_shape(Kind::Required, inner)
                        )
                )
        }
    }
}

/// The last segment of a type that is a plain path (`a::b::C<…>`, not `<T as Trait>::C`).
fn last_segment(ty: &Type) -> Option<&PathSegment> {
    match ty {
        Type::Path(path) if path.qself.is_none() => path.path.segments.last(),
        Type::Paren(paren) => last_segment(&paren.elem),
        Type::Group(group) => last_segment(&group.elem),
        _ => None,
    }
}

/// Whether `ty` may mention a generic parameter: one of the function's, `Self`, a lifetime
/// other than `'static`, or `impl Trait`. None of these can appear in a constant.
fn mentions_generics(ty: &Type, generics: &Generics) -> bool {
    let params: Vec<&Ident> = generics
        .params
        .iter()
        .filter_map(|param| match param {
            GenericParam::Type(param) => Some(&param.ident),
            GenericParam::Const(param) => Some(&param.ident),
            GenericParam::Lifetime(_) => None,
        })
        .collect();
    fn scan(tokens: TokenStream, params: &[&Ident]) -> bool {
        let mut after_quote = false;
        tokens.into_iter().any(|token| {
            let lifetime = std::mem::take(&mut after_quote);
            match token {
                TokenTree::Ident(ident) if lifetime => ident != "static",
                TokenTree::Ident(ident) => {
                    ident == "Self" || params.iter().any(|param| ident == **param)
                }
                TokenTree::Punct(punct) => {
                    after_quote = punct.as_char() == '\'';
                    false
                }
                TokenTree::Group(group) => scan(group.stream(), params),
                TokenTree::Literal(_) => false,
            }
        })
    }
    contains_impl_trait(ty) || scan(ty.to_token_stream(), &params)
}

/// The spans of the private tokens around the user's token type, chosen so that the whole type
/// reads as the user's: a trait error on `Required<String>` (the
/// `#[diagnostic::on_unimplemented]` of `RequiredToken`) then points at `String`, not at the
/// attribute.
struct WrapperSpans {
    /// The span of the type's first token, which the wrapper and `<` take.
    first: Span,
    /// The span of its last token, which `>` takes.
    last: Span,
    /// The span of the wrapper's path.
    path: Span,
}

impl WrapperSpans {
    fn new(private: &TokenStream, ty: &Type) -> Self {
        let mut spans = ty.to_token_stream().into_iter().map(|token| token.span());
        let first = spans.next().unwrap_or_else(Span::call_site);
        let last = spans.last().unwrap_or(first);
        // `unused_qualifications` skips paths that start with `::`, but would fire on a
        // user-written `crate = crate::deps::oidc` given the user's span; such paths keep the
        // macro's hygiene (an error of the direct form is still located on the type, with an
        // "in this attribute macro expansion" note; the checked form reports on the type alone).
        let absolute = matches!(
            private.clone().into_iter().next(),
            Some(TokenTree::Punct(punct)) if punct.as_char() == ':'
        );
        let path = if absolute {
            first
        } else {
            Span::call_site().located_at(first)
        };
        Self { first, last, path }
    }

    /// `#wrapper<#arguments>`.
    fn wrap(&self, wrapper: TokenStream, arguments: TokenStream) -> TokenStream {
        let mut wrapped = respan(wrapper, self.path);
        wrapped.extend(quote_spanned!(self.first=> <));
        wrapped.extend(arguments);
        wrapped.extend(quote_spanned!(self.last=> >));
        wrapped
    }

    /// Private tokens inside the type, located at its first token.
    fn respan(&self, tokens: TokenStream) -> TokenStream {
        respan(tokens, self.path)
    }
}

/// Gives every token the span `span`. Used for the private wrapper around the user's token type:
/// a type's span covers its tokens only when they share a context, so without this a trait error
/// on `Required<String>` would point at the attribute instead of at `String`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|token| match token {
            TokenTree::Group(group) => {
                let mut respanned = Group::new(group.delimiter(), respan(group.stream(), span));
                respanned.set_span(span);
                TokenTree::Group(respanned)
            }
            mut other => {
                other.set_span(span);
                other
            }
        })
        .collect()
}

/// Whether a type mentions `impl Trait` anywhere.
fn contains_impl_trait(ty: &Type) -> bool {
    fn scan(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|token| match token {
            TokenTree::Ident(ident) => ident == "impl",
            TokenTree::Group(group) => scan(group.stream()),
            _ => false,
        })
    }
    scan(ty.to_token_stream())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::parse_args;
    use crate::handler::parse_handler;

    fn expand_str(kind: Kind, args: TokenStream, item: TokenStream) -> String {
        let args = parse_args(args).expect("valid arguments");
        let checked = parse_handler(kind, item).expect("valid handler");
        assert!(checked.errors.is_none());
        expand(kind, &args, &checked.handler).to_string()
    }

    #[test]
    fn required_wraps_the_return_type_and_moves_the_body() {
        let out = expand_str(
            Kind::Required,
            quote!(scopes = "a b", claims = {"groups": ["admins"], "n": -3, "v": true}),
            quote!(
                pub async fn h(token: IdToken, p: web::Path<u32>) -> String {
                    token.sub()
                }
            ),
        );
        for part in [
            "__oidc_actix_token : :: oidc_actix :: __private :: Required < IdToken >",
            ", p : web :: Path < u32 >",
            "-> :: oidc_actix :: __private :: Guarded < String >",
            "let _ = < web :: Path < u32 > as :: oidc_actix :: __private :: actix_web :: FromRequest > :: extract ;",
            "Policy :: new (& [\"a\" , \"b\"]",
            "ClaimRule :: new (\"groups\" , const { & [:: oidc_actix :: __private :: ClaimValue :: str (\"admins\")] })",
            "ClaimValue :: Int (- 3)",
            "ClaimValue :: Bool (true)",
            "let __oidc_actix_fake_return : String = loop { }",
            "async move",
        ] {
            assert!(out.contains(part), "missing {part:?} in {out}");
        }
    }

    #[test]
    fn absent_claims_are_none_and_impl_trait_has_no_fake_return() {
        let out = expand_str(
            Kind::Required,
            quote!(),
            quote!(
                async fn h(_: IdToken) -> impl Responder {
                    ""
                }
            ),
        );
        assert!(out.contains("Policy :: new (& [] , :: core :: option :: Option :: None)"));
        assert!(!out.contains("fake_return"));
    }

    #[test]
    fn impl_trait_inside_the_return_type_is_erased_in_the_fake_return() {
        let out = expand_str(
            Kind::Required,
            quote!(),
            quote!(
                async fn h(_: IdToken) -> Result<(impl Responder, &'static [impl Sized]), E> {
                    todo!()
                }
            ),
        );
        assert!(
            out.contains(
                "let __oidc_actix_fake_return : Result < (_ , & 'static [_]) , E > = loop { }"
            ),
            "{out}"
        );
    }

    #[test]
    fn a_token_type_of_another_shape_is_checked_in_a_constant() {
        for (kind, ty, private, param_trait) in [
            (Kind::Required, quote!(String), quote!(), "RequiredParam"),
            (
                Kind::Required,
                quote!(Option<IdToken>),
                quote!(),
                "RequiredParam",
            ),
            (Kind::Optional, quote!(IdToken), quote!(), "OptionalParam"),
            (
                Kind::Optional,
                quote!(MaybeToken),
                quote!(crate = my_oidc),
                "OptionalParam",
            ),
        ] {
            let (token_trait, krate) = match (kind, private.is_empty()) {
                (Kind::Required, _) => ("RequiredToken", ":: oidc_actix"),
                (Kind::Optional, true) => ("OptionalToken", ":: oidc_actix"),
                (Kind::Optional, false) => ("OptionalToken", "my_oidc"),
            };
            let out = expand_str(
                kind,
                private,
                quote!(
                    async fn h(token: #ty, p: web::Path<u32>) -> String {
                        todo!()
                    }
                ),
            );
            let ty = ty.to_string();
            let hidden = format!(
                "__oidc_actix_token : < {krate} :: __private :: TokenCheck < {ty} , {{ < {ty} as \
                 {krate} :: __private :: {token_trait} > :: ACCEPTED }} > as {krate} :: \
                 __private :: {param_trait} > :: Extractor , p"
            );
            assert!(out.contains(&hidden), "missing {hidden:?} in {out}");
            // The type is checked once: the body does not name the hidden type again.
            assert_eq!(out.matches("ACCEPTED").count(), 1, "{out}");
            assert!(out.contains("__oidc_actix_token . authorize (& __OIDC_ACTIX_POLICY)"));
        }
    }

    #[test]
    fn a_token_type_with_generic_parameters_is_named_directly() {
        for (generics, ty) in [
            (quote!(<C: ClaimsType>), quote!(Tok<C>)),
            (quote!(<const N: usize>), quote!(Tok<N>)),
            (quote!(<'a>), quote!(&'a str)),
            (quote!(), quote!(Self)),
            (quote!(), quote!(impl Sized)),
        ] {
            let out = expand_str(
                Kind::Required,
                quote!(),
                quote!(
                    async fn h #generics(token: #ty) -> String {
                        todo!()
                    }
                ),
            );
            let hidden = format!(
                "__oidc_actix_token : :: oidc_actix :: __private :: Required < {} >",
                ty
            );
            assert!(out.contains(&hidden), "missing {hidden:?} in {out}");
        }
        // `'static` and elided lifetimes are allowed in a constant.
        let out = expand_str(
            Kind::Required,
            quote!(),
            quote!(
                async fn h(token: &'static str) -> String {
                    todo!()
                }
            ),
        );
        assert!(out.contains("TokenCheck < & 'static str ,"), "{out}");
    }

    #[test]
    fn the_expected_shapes_are_named_directly() {
        for (kind, ty) in [
            (Kind::Required, quote!(IdToken)),
            (Kind::Required, quote!(oidc_actix::IdToken<MyClaims>)),
            (Kind::Optional, quote!(Option<IdToken>)),
            (
                Kind::Optional,
                quote!(::std::option::Option<oidc_actix::IdToken<MyClaims>>),
            ),
        ] {
            let out = expand_str(
                kind,
                quote!(),
                quote!(
                    async fn h(token: #ty) -> String {
                        todo!()
                    }
                ),
            );
            assert!(!out.contains("TokenCheck"), "{out}");
        }
    }

    #[test]
    fn optional_keeps_the_return_type_and_the_body_inline() {
        let out = expand_str(
            Kind::Optional,
            quote!(claims = {}, crate = my_oidc),
            quote!(
                async fn h(token: Option<IdToken>) -> String {
                    String::new()
                }
            ),
        );
        assert!(out.contains("my_oidc :: __private :: Optional < Option < IdToken > >"));
        assert!(out.contains("-> String"));
        assert!(out.contains("ClaimConstraints :: from_static (const { & [] })"));
        assert!(!out.contains("async move"));
    }
}
