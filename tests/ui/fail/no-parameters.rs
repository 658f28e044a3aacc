use oidc_actix::auth;

#[auth::required]
async fn handler() -> &'static str {
    "ok"
}

fn main() {}
