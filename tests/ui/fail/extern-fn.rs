use oidc_actix::{IdToken, auth};

#[auth::optional]
async extern "C" fn handler(_token: Option<IdToken>) -> &'static str {
    "ok"
}

fn main() {}
