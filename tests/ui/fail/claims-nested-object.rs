use oidc_actix::{IdToken, auth};

#[auth::required(claims = {"realm_access": {"roles": ["admin"]}})]
async fn handler(_token: IdToken) -> &'static str {
    "ok"
}

fn main() {}
