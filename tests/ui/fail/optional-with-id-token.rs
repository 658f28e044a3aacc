use oidc_actix::{IdToken, auth};

#[auth::optional]
async fn handler(token: IdToken) -> String {
    format!("{:?}", token.sub)
}

fn main() {}
