use actix_web::{App, web};
use oidc_actix::auth;

#[auth::required]
async fn handler(token: String) -> String {
    token
}

fn main() {
    let _app = App::new().route("/", web::get().to(handler));
}
