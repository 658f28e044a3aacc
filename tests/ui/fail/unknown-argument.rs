use oidc_actix::{IdToken, auth};

#[auth::required(scope = "profile")]
async fn typo(_token: IdToken) -> &'static str {
    "ok"
}

#[auth::optional(audience = "api")]
async fn unknown(_token: Option<IdToken>) -> &'static str {
    "ok"
}

fn main() {}
