#![deny(warnings, unused_qualifications)]

use actix_web::error::ErrorBadRequest;
use actix_web::{App, HttpResponse, Responder, get, web};
use oidc_actix::{IdToken, auth};

fn parse(raw: &str) -> Result<u32, std::num::ParseIntError> {
    raw.parse()
}

#[get("/items/{id}")]
#[auth::required(scopes = "items")]
async fn item(token: IdToken, id: web::Path<String>) -> Result<HttpResponse, actix_web::Error> {
    if token.sub.is_none() {
        return Err(ErrorBadRequest("no subject"));
    }
    let id = parse(&id).map_err(ErrorBadRequest)?;
    if id == 0 {
        return Ok(HttpResponse::NotFound().finish());
    }
    Ok(HttpResponse::Ok().body(id.to_string()))
}

#[derive(Debug)]
struct MyError;

impl std::fmt::Display for MyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("my error")
    }
}

impl actix_web::ResponseError for MyError {}

impl From<std::num::ParseIntError> for MyError {
    fn from(_: std::num::ParseIntError) -> Self {
        MyError
    }
}

/// `?` converts through `From`, which needs the declared error type: the fake return edge.
#[get("/convert/{n}")]
#[auth::required]
async fn convert(_token: IdToken, n: web::Path<String>) -> Result<String, MyError> {
    let n: u32 = n.parse()?;
    Ok((n * 2).to_string())
}

#[get("/maybe")]
#[auth::optional]
async fn maybe(token: Option<IdToken>) -> Result<String, MyError> {
    let n: u32 = "3".parse()?;
    Ok(format!("{n} {}", token.is_some()))
}

/// `impl Trait` inside the return type: the error type is still pinned for `?`.
#[get("/impl-ok/{n}")]
#[auth::required]
async fn impl_ok(_token: IdToken, n: web::Path<String>) -> Result<impl Responder, MyError> {
    let n: u32 = n.parse()?;
    Ok(HttpResponse::Ok().body(n.to_string()))
}

fn main() {
    let _app = App::new()
        .service(item)
        .service(convert)
        .service(maybe)
        .service(impl_ok);
}
