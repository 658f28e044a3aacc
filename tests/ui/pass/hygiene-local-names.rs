#![deny(warnings, unused_qualifications)]

// A user crate whose names shadow what generated code could use.

#[allow(dead_code)]
mod actix_web {}

#[allow(dead_code)]
mod core {}

#[allow(dead_code)]
mod oidc {}

mod handlers {
    use ::actix_web::test;
    use ::actix_web::{HttpResponse, Responder};
    use oidc_actix::{IdToken, auth};

    #[allow(dead_code)]
    struct Policy;

    #[allow(dead_code)]
    struct Required;

    #[auth::required(scopes = "x", claims = {"groups": ["admins"]})]
    pub async fn protected(token: IdToken) -> impl Responder {
        // A local variable named `auth` does not shadow the `auth` module in the attribute.
        let auth = token.sub.clone();
        HttpResponse::Ok().body(format!("{auth:?}"))
    }

    #[auth::optional]
    pub async fn public(token: Option<IdToken>) -> Result<String, ::actix_web::Error> {
        Ok(format!("{}", token.is_some()))
    }

    pub fn request() -> ::actix_web::HttpRequest {
        test::TestRequest::default().to_http_request()
    }
}

fn main() {
    let auth = "a local variable named auth";
    let _ = auth;
    let _ = handlers::request();
    let _app = ::actix_web::App::new()
        .route("/p", ::actix_web::web::get().to(handlers::protected))
        .route("/q", ::actix_web::web::get().to(handlers::public));
}
