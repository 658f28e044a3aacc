use actix_web::{App, get};
use oidc_actix::{IdToken, auth};

// One error on the unknown argument, nothing about `handler` or the registration.
#[get("/")]
#[auth::required(scope = "admin")]
async fn handler(token: IdToken) -> String {
    format!("{:?}", token.sub)
}

fn main() {
    let _app = App::new().service(handler);
}
