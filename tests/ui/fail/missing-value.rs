use oidc_actix::{IdToken, auth};

#[auth::required(scopes)]
async fn bare(_token: IdToken) -> &'static str {
    "ok"
}

#[auth::required("profile")]
async fn literal(_token: IdToken) -> &'static str {
    "ok"
}

fn main() {}
