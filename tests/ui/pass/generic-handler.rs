#![deny(warnings, unused_qualifications)]

use std::fmt::Display;

use actix_web::{App, Responder, web};
use oidc_actix::{ClaimsType, IdToken, auth};

#[auth::required(scopes = "read")]
async fn show<T>(token: IdToken, data: web::Data<T>) -> String
where
    T: Display + 'static,
{
    format!("{} {:?}", data.get_ref(), token.sub)
}

#[auth::optional]
async fn show_maybe<T: Display + 'static, C>(
    token: Option<IdToken<C>>,
    data: web::Data<T>,
) -> impl Responder
where
    C: ClaimsType,
{
    format!("{} {}", data.get_ref(), token.is_some())
}

fn main() {
    let _app = App::new()
        .app_data(web::Data::new(String::from("data")))
        .route("/show", web::get().to(show::<String>))
        .route(
            "/maybe",
            web::get().to(show_maybe::<String, oidc_actix::Claims>),
        );
}
