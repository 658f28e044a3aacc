#![deny(warnings, unused_qualifications)]

use actix_web::{App, HttpResponse, Responder, web};
use oidc_actix::{IdToken, auth};

struct Api;

impl Api {
    const NAME: &'static str = "api";

    #[auth::required(scopes = "api")]
    async fn assoc(token: IdToken) -> impl Responder {
        format!("{} {:?}", Self::NAME, token.sub)
    }

    #[auth::required]
    async fn returns_self_type(_token: IdToken) -> Result<HttpResponse, actix_web::Error> {
        Ok(HttpResponse::Ok().body(Self::NAME))
    }

    #[auth::optional]
    pub(crate) async fn maybe(token: Option<IdToken>, path: web::Path<u32>) -> String {
        format!("{} {} {}", Self::NAME, path.into_inner(), token.is_some())
    }
}

fn main() {
    let _app = App::new()
        .route("/assoc", web::get().to(Api::assoc))
        .route("/self", web::get().to(Api::returns_self_type))
        .route("/maybe/{n}", web::get().to(Api::maybe));
}
