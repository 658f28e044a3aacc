#![deny(warnings, unused_qualifications)]

use actix_web::{App, Responder, get};
use oidc_actix::{IdToken, auth};

#[get("/mut")]
#[auth::required]
async fn mutable(mut token: IdToken) -> impl Responder {
    let other = token.clone();
    token = other;
    format!("{:?}", token.sub)
}

#[get("/underscore")]
#[auth::required]
async fn underscore(_: IdToken) -> impl Responder {
    "ok"
}

#[get("/ref")]
#[auth::required]
async fn by_ref(ref token: IdToken) -> impl Responder {
    format!("{:?}", token.sub)
}

#[get("/struct-pattern")]
#[auth::required]
async fn struct_pattern(IdToken { .. }: IdToken) -> impl Responder {
    "ok"
}

#[get("/optional-mut")]
#[auth::optional]
async fn optional_mut(mut token: Option<IdToken>) -> impl Responder {
    let had = token.take().is_some();
    format!("{had}")
}

#[get("/optional-underscore")]
#[auth::optional]
async fn optional_underscore(_: Option<IdToken>) -> impl Responder {
    "ok"
}

fn main() {
    let _app = App::new()
        .service(mutable)
        .service(underscore)
        .service(by_ref)
        .service(struct_pattern)
        .service(optional_mut)
        .service(optional_underscore);
}
