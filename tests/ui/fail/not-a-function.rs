use oidc_actix::auth;

#[auth::required]
struct Handler;

#[auth::optional]
mod handlers {}

fn main() {
    let _ = Handler;
}
