#![deny(warnings, unused_qualifications)]

use actix_web::{App, HttpResponse, Responder, web};
use oidc_actix::{IdToken, auth};

#[auth::required]
async fn list(_token: IdToken) -> impl Responder {
    HttpResponse::Ok().body("list")
}

#[auth::required(scopes = "write")]
async fn create(token: IdToken, body: String) -> HttpResponse {
    HttpResponse::Created().body(format!("{body} {:?}", token.sub))
}

#[auth::optional]
async fn public(token: Option<IdToken>) -> impl Responder {
    format!("{}", token.is_some())
}

fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/items")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    );
}

fn main() {
    let _app = App::new()
        .service(web::resource("/list").route(web::get().to(list)))
        .configure(config)
        .service(
            web::scope("/api")
                .route("/public", web::get().to(public))
                .route("/list", web::get().to(list)),
        );
}
