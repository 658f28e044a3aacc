use oidc_actix::{IdToken, auth};

#[auth::required]
const async fn handler(_token: IdToken) -> &'static str {
    "ok"
}

fn main() {}
