//! Attribute macros for oidc-actix (placeholder until the macro crate lands).
use proc_macro::TokenStream;

/// `#[auth::required]`.
#[proc_macro_attribute]
pub fn required(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}

/// `#[auth::optional]`.
#[proc_macro_attribute]
pub fn optional(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
