use oidc_actix::{IdToken, auth};

#[auth::required(claims = {"groups": []})]
async fn handler(_token: IdToken) -> &'static str {
    "ok"
}

fn main() {}
