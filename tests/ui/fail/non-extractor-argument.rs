use actix_web::{App, get};
use oidc_actix::{IdToken, auth};

struct NotAnExtractor;

#[get("/")]
#[auth::required]
async fn handler(_token: IdToken, _other: NotAnExtractor) -> &'static str {
    "ok"
}

fn main() {
    let _app = App::new().service(handler);
}
