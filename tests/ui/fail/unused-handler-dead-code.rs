#![deny(dead_code)]

use oidc_actix::{IdToken, auth};

#[auth::required]
async fn never_registered(token: IdToken) -> String {
    format!("{:?}", token.sub)
}

#[auth::optional]
async fn never_registered_either(token: Option<IdToken>) -> String {
    format!("{}", token.is_some())
}

fn main() {}
