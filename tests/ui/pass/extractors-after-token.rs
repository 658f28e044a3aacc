#![deny(warnings, unused_qualifications)]

use actix_web::{App, HttpRequest, HttpResponse, Responder, post, web};
use oidc_actix::{IdToken, auth};
use serde::Deserialize;

#[derive(Deserialize)]
struct Item {
    name: String,
}

struct State {
    greeting: &'static str,
}

#[post("/items/{id}")]
#[auth::required(scopes = "items:write")]
async fn create(
    token: IdToken,
    id: web::Path<u32>,
    item: web::Json<Item>,
    state: web::Data<State>,
    req: HttpRequest,
) -> impl Responder {
    HttpResponse::Created().body(format!(
        "{} {} {} {:?} {}",
        state.greeting,
        id.into_inner(),
        item.name,
        token.sub,
        req.path()
    ))
}

#[post("/anonymous/{id}")]
#[auth::optional]
async fn anonymous(
    token: Option<IdToken>,
    mut id: web::Path<(u32,)>,
    web::Json(item): web::Json<Item>,
) -> impl Responder {
    id.0 += 1;
    format!("{} {} {}", id.0, item.name, token.is_some())
}

fn main() {
    let _app = App::new()
        .app_data(web::Data::new(State { greeting: "hi" }))
        .service(create)
        .service(anonymous);
}
