use oidc_actix::{IdToken, auth};

#[auth::required(crate = "not a path")]
async fn handler(_token: IdToken) -> &'static str {
    "ok"
}

fn main() {}
