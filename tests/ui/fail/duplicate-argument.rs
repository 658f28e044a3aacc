use oidc_actix::{IdToken, auth};

#[auth::required(scopes = "a", claims = {}, scopes = "b")]
async fn handler(_token: IdToken) -> &'static str {
    "ok"
}

fn main() {}
