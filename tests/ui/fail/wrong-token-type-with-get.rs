// A wrong token type under `#[get]`: one error on the type, none at the route.
use actix_web::{App, get};
use oidc_actix::auth;

struct Session;

#[get("/")]
#[auth::required]
async fn handler(_session: Session) -> &'static str {
    "ok"
}

fn main() {
    let _app = App::new().service(handler);
}
