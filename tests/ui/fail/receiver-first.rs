use oidc_actix::{IdToken, auth};

struct Api;

impl Api {
    #[auth::required]
    async fn handler(&self, _token: IdToken) -> &'static str {
        "ok"
    }
}

fn main() {}
