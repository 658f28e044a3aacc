use oidc_actix::{IdToken, auth};

#[auth::required]
async fn handler(_token: IdToken, _: ...) -> &'static str {
    "ok"
}

fn main() {}
