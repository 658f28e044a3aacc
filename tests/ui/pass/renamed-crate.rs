#![deny(warnings, unused_qualifications)]

// What `my_oidc = { package = "oidc-actix", ... }` in Cargo.toml gives: no `oidc_actix` name in
// the crate root, so `crate = ...` tells the macros where the runtime is.
extern crate oidc_actix as my_oidc;

mod deps {
    pub(crate) use my_oidc as oidc;
}

use actix_web::{App, FromRequest, Responder, get, web};
use my_oidc::{IdToken, auth};

#[get("/string")]
#[auth::required(crate = "my_oidc")]
async fn as_string(token: IdToken) -> impl Responder {
    format!("{:?}", token.sub)
}

#[get("/path")]
#[auth::required(scopes = "a", crate = my_oidc)]
async fn as_path(token: IdToken) -> String {
    format!("{:?}", token.sub)
}

#[get("/nested")]
#[auth::optional(crate = crate::deps::oidc, claims = {})]
async fn nested(token: Option<IdToken>) -> impl Responder {
    format!("{}", token.is_some())
}

// Extractors next to a `FromRequest` in scope: the per-extractor check names the trait by the
// renamed crate's path, and `unused_qualifications` must not fire on it.
#[get("/extractors/{n}")]
#[auth::required(crate = crate::deps::oidc)]
async fn extractors(_token: IdToken, n: web::Path<u32>) -> String {
    n.into_inner().to_string()
}

fn is_extractor<T: FromRequest>() {}

fn main() {
    is_extractor::<web::Path<u32>>();
    let _app = App::new()
        .service(as_string)
        .service(as_path)
        .service(nested)
        .service(extractors);
}
