use oidc_actix::{IdToken, auth};

#[auth::required(scopes = "profile email profile")]
async fn handler(_token: IdToken) -> &'static str {
    "ok"
}

fn main() {}
