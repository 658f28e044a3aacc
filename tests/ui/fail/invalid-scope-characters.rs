use oidc_actix::{IdToken, auth};

#[auth::required(scopes = "profile café")]
async fn non_ascii(_token: IdToken) -> &'static str {
    "ok"
}

#[auth::required(scopes = "a\"b")]
async fn quote(_token: IdToken) -> &'static str {
    "ok"
}

#[auth::required(scopes = ["profile"])]
async fn list(_token: IdToken) -> &'static str {
    "ok"
}

fn main() {}
