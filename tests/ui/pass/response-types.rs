#![deny(warnings, unused_qualifications)]

use actix_web::{App, Either, HttpResponse, get};
use oidc_actix::{IdToken, auth};

#[get("/http-response")]
#[auth::required]
async fn http_response(_token: IdToken) -> HttpResponse {
    HttpResponse::NoContent().finish()
}

#[get("/string")]
#[auth::required]
async fn string(token: IdToken) -> String {
    token.sub.clone().unwrap_or_default()
}

#[get("/static-str")]
#[auth::required]
async fn static_str(_token: IdToken) -> &'static str {
    "ok"
}

#[get("/option")]
#[auth::required]
async fn option(token: IdToken) -> Option<String> {
    token.email.clone()
}

#[get("/either")]
#[auth::required]
async fn either(token: IdToken) -> Either<HttpResponse, String> {
    match &token.email {
        Some(email) => Either::Right(email.clone()),
        None => Either::Left(HttpResponse::NotFound().finish()),
    }
}

#[get("/optional-either")]
#[auth::optional]
async fn optional_either(token: Option<IdToken>) -> Either<HttpResponse, &'static str> {
    match token {
        Some(_) => Either::Right("hello"),
        None => Either::Left(HttpResponse::Unauthorized().finish()),
    }
}

fn main() {
    let _app = App::new()
        .service(http_response)
        .service(string)
        .service(static_str)
        .service(option)
        .service(either)
        .service(optional_either);
}
