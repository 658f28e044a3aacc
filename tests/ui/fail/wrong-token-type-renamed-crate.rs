// With `crate = path` not starting with `::`, the wrapper keeps the macro's hygiene (so that
// `unused_qualifications` cannot fire on it): the error is still on the type, with a note.
extern crate oidc_actix as my_oidc;

use my_oidc::auth;

#[auth::required(crate = my_oidc)]
async fn handler(token: String) -> String {
    token
}

fn main() {}
