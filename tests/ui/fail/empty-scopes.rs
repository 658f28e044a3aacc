use oidc_actix::{IdToken, auth};

#[auth::required(scopes = "")]
async fn empty(_token: IdToken) -> &'static str {
    "ok"
}

#[auth::optional(scopes = "  \t ")]
async fn blank(_token: Option<IdToken>) -> &'static str {
    "ok"
}

fn main() {}
