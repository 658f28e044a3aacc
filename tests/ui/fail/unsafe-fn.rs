use oidc_actix::{IdToken, auth};

#[auth::required]
async unsafe fn handler(_token: IdToken) -> &'static str {
    "ok"
}

fn main() {}
