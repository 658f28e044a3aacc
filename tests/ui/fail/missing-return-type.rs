use oidc_actix::{IdToken, auth};

#[auth::required(scopes = "profile")]
async fn handler(token: IdToken) {
    let _ = token;
}

fn main() {}
