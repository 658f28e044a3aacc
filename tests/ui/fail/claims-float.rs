use oidc_actix::{IdToken, auth};

#[auth::required(claims = {"level": [1, 2.5]})]
async fn handler(_token: IdToken) -> &'static str {
    "ok"
}

fn main() {}
