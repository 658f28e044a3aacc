use oidc_actix::{IdToken, auth};

#[auth::required]
#[auth::required(scopes = "admin")]
async fn handler(_token: IdToken) -> &'static str {
    "ok"
}

fn main() {}
