// With `crate = path` not starting with `::`, the wrapper keeps the macro's hygiene (so that
// `unused_qualifications` cannot fire on it): the one error is still on the type, and reads as
// without `crate`, but for the path of the trait.
extern crate oidc_actix as my_oidc;

use my_oidc::auth;

#[auth::required(crate = my_oidc)]
async fn handler(token: String) -> String {
    token
}

fn main() {}
