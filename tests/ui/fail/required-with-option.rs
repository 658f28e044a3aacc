use oidc_actix::{IdToken, auth};

#[auth::required]
async fn handler(token: Option<IdToken>) -> String {
    format!("{}", token.is_some())
}

fn main() {}
