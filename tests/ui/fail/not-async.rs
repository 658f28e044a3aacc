use oidc_actix::{IdToken, auth};

#[auth::required]
fn handler(token: IdToken) -> String {
    format!("{:?}", token.sub)
}

fn main() {}
