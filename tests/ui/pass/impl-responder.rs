#![deny(warnings, unused_qualifications)]

use actix_web::{App, Responder, get};
use oidc_actix::{IdToken, auth};

#[get("/me")]
#[auth::required]
async fn me(token: IdToken) -> impl Responder {
    format!("{:?}", token.sub)
}

#[get("/scoped")]
#[auth::required(scopes = "profile email")]
async fn scoped(token: IdToken) -> impl Responder {
    format!("{:?}", token.email)
}

#[get("/claims")]
#[auth::required(claims = {"groups": ["admins"]})]
async fn claims(token: IdToken) -> impl Responder {
    format!("{:?}", token.groups)
}

#[get("/both")]
#[auth::required(scopes = "profile", claims = {"groups": ["admins"]})]
async fn both(token: IdToken) -> impl Responder {
    token.preferred_username.clone().unwrap_or_default()
}

#[get("/no-claims")]
#[auth::required(claims = {})]
async fn no_claims(_: IdToken) -> impl Responder {
    "anyone with a valid token"
}

fn main() {
    let _app = App::new()
        .service(me)
        .service(scoped)
        .service(claims)
        .service(both)
        .service(no_claims);
}
