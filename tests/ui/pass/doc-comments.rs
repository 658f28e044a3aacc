#![deny(warnings, unused_qualifications, missing_docs)]
//! Doc comments and route attributes in every order around the auth attribute.

use actix_web::{App, Responder, get};
use oidc_actix::{IdToken, auth};

/// Route attribute above, docs above both.
#[get("/a")]
#[auth::required]
pub async fn a(_token: IdToken) -> impl Responder {
    "a"
}

/// Route attribute below, docs above both.
#[auth::required]
#[get("/b")]
pub async fn b(_token: IdToken) -> impl Responder {
    "b"
}

#[get("/c")]
/// Docs between the route attribute and ours.
#[auth::required]
pub async fn c(_token: IdToken) -> impl Responder {
    "c"
}

#[auth::required]
/// Docs between ours and the route attribute.
///
/// Several lines.
#[get("/d")]
pub async fn d(_token: IdToken) -> impl Responder {
    "d"
}

#[auth::optional(scopes = "e")]
#[get("/e")]
/// Docs last.
#[allow(clippy::unused_async)]
pub async fn e(token: Option<IdToken>) -> impl Responder {
    format!("{}", token.is_some())
}

fn main() {
    let _app = App::new()
        .service(a)
        .service(b)
        .service(c)
        .service(d)
        .service(e);
}
