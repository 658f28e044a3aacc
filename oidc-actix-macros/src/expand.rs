//! The expansion: one rewritten function, nothing beside it.
//!
//! A sibling item (a policy type, a check function) would not be allowed where handlers often
//! live, such as an `impl` block or the `register` function `#[get]` nests handlers in, so the
//! policy is a `static` inside the function.

use proc_macro2::{Group, Ident, Literal, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{GenericArgument, PathArguments, Signature, Token, Type};

use crate::args::{Args, ClaimValue};
use crate::handler::{Handler, Kind};

/// The rewritten handler.
///
/// The token parameter becomes a hidden first parameter (`Required<T>` or `Optional<T>`, where
/// `T` is the user's type with the user's span, so a wrong type is reported on it); the other
/// parameters, attributes, visibility, generics and where-clause are kept as written.
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
    // One assertion per extractor, spanned on its type, so a non-extractor is reported there
    // (axum's `debug_handler`) rather than at the route registration. `impl Trait` types cannot
    // be named in a turbofish; actix reports those.
    let assertions = rest
        .iter()
        .filter(|param| !contains_impl_trait(&param.ty))
        .map(|param| {
            let ty = &param.ty;
            quote_spanned! {ty.span()=> #private::assert_from_request::<#ty>(); }
        });
    let policy_item = quote! {
        static __OIDC_ACTIX_POLICY: #private::Policy = #policy;
    };

    let (param_ty, ret, body) = match kind {
        Kind::Required => {
            let param_ty = wrap(quote!(#private::Required), token_ty);
            let ret = quote_spanned! {output.span()=> #private::Guarded<#output> };
            let authorize = quote_spanned! {token_ty.span()=> <#param_ty>::authorize };
            let fake_return = fake_return_edge(output);
            let (ok, err) = (
                Ident::new("__oidc_actix_ok", Span::mixed_site()),
                Ident::new("__oidc_actix_err", Span::mixed_site()),
            );
            let body = quote! {
                #(#inner_attrs)*
                #(#assertions)*
                #policy_item
                let #token_pat: #token_ty = match #authorize(#hidden, &__OIDC_ACTIX_POLICY) {
                    ::core::result::Result::Ok(#ok) => #ok,
                    ::core::result::Result::Err(#err) => {
                        return #private::Guarded::denied(#err);
                    }
                };
                // The body runs in its own `async` block so that its `return` and `?` keep
                // their meaning: they produce the declared return type, not `Guarded`.
                #private::Guarded::allowed(async move { #fake_return { #body } }.await)
            };
            (param_ty, ret, body)
        }
        Kind::Optional => {
            let param_ty = wrap(quote!(#private::Optional), token_ty);
            let authorize = quote_spanned! {token_ty.span()=> <#param_ty>::authorize };
            let body = quote! {
                #(#inner_attrs)*
                #(#assertions)*
                #policy_item
                let #token_pat: #token_ty = #authorize(#hidden, &__OIDC_ACTIX_POLICY);
                #body
            };
            (param_ty, output.to_token_stream(), body)
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

/// `#wrapper<#ty>`, spanned so that the whole type reads as the user's `ty`: the wrapper and `<`
/// take the span of the type's first token, `>` that of its last. A trait error on
/// `Required<String>` (the `#[diagnostic::on_unimplemented]` of `RequiredToken`) then points
/// at `String`, not at the attribute.
fn wrap(wrapper: TokenStream, ty: &Type) -> TokenStream {
    let mut spans = ty.to_token_stream().into_iter().map(|token| token.span());
    let first = spans.next().unwrap_or_else(Span::call_site);
    let last = spans.last().unwrap_or(first);
    // `unused_qualifications` skips paths that start with `::`, but would fire on a user-written
    // `crate = crate::deps::oidc` given the user's span; such paths keep the macro's hygiene
    // (the error is still located on the type, with an "in this attribute macro expansion" note).
    let absolute = matches!(
        wrapper.clone().into_iter().next(),
        Some(TokenTree::Punct(punct)) if punct.as_char() == ':'
    );
    let span = if absolute {
        first
    } else {
        Span::call_site().located_at(first)
    };
    let wrapper = respan(wrapper, span);
    let open = quote_spanned!(first=> <);
    let close = quote_spanned!(last=> >);
    quote!(#wrapper #open #ty #close)
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
            "assert_from_request :: < web :: Path < u32 > > ()",
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
