use oidc_actix::{IdToken, auth};

// Unbalanced delimiters are a lexer error: rustc reports it before any macro runs.
#[auth::required(claims = {"groups": ["admins"})]
async fn handler(_token: IdToken) -> &'static str {
    "ok"
}

fn main() {}
