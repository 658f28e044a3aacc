// A token type that mentions the handler's generic parameters cannot be checked in a constant,
// so it is named directly: the error on the type is followed by one on `authorize` (the
// limitation documented on `#[auth::required]`).
use oidc_actix::{ClaimsType, IdToken, auth};

#[auth::required]
async fn handler<C: ClaimsType>(token: Option<IdToken<C>>) -> String {
    format!("{}", token.is_some())
}

fn main() {}
