#![deny(warnings, unused_qualifications)]

// `#[routes]` consumes the `#[get]`/`#[post]` attributes by path, so they need no import.
use actix_web::{App, Responder, routes};
use oidc_actix::{IdToken, auth};

#[routes]
#[get("/one")]
#[get("/two")]
#[post("/three")]
#[auth::required(scopes = "multi")]
async fn multi(token: IdToken) -> impl Responder {
    format!("{:?}", token.sub)
}

#[auth::optional]
#[routes]
#[get("/four")]
#[get("/five")]
async fn multi_optional(token: Option<IdToken>) -> impl Responder {
    format!("{}", token.is_some())
}

fn main() {
    let _app = App::new().service(multi).service(multi_optional);
}
