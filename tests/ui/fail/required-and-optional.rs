use actix_web::get;
use oidc_actix::{IdToken, auth};

#[auth::required]
#[get("/")]
#[auth::optional]
async fn handler(_token: IdToken) -> &'static str {
    "ok"
}

fn main() {}
