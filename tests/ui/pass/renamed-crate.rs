#![deny(warnings, unused_qualifications)]

// What `my_oidc = { package = "oidc-actix", ... }` in Cargo.toml gives: no `oidc_actix` name in
// the crate root, so `crate = ...` tells the macros where the runtime is.
extern crate oidc_actix as my_oidc;

mod deps {
    pub(crate) use my_oidc as oidc;
}

use actix_web::{App, Responder, get};
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

fn main() {
    let _app = App::new()
        .service(as_string)
        .service(as_path)
        .service(nested);
}
