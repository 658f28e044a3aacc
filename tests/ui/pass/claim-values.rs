#![deny(warnings, unused_qualifications)]

use actix_web::{App, Responder, get};
use oidc_actix::{IdToken, auth};

#[get("/all")]
#[auth::required(
    scopes = "openid profile email offline_access api:read https://example.org/scope",
    claims = {
        "groups": ["admins", "/staff"],
        "email_verified": true,
        "realm_access.roles": "offline_access",
        "resource_access.*.roles": ["editor"],
        "level": [1, -2, 9223372036854775807, -9223372036854775808],
        "disabled": false,
        "tenant": "acme",
    },
)]
async fn all(_token: IdToken) -> impl Responder {
    "ok"
}

#[get("/no-constraints")]
#[auth::optional(claims = {}, scopes = "!#$%&'()*+,-./:;<=>?@[]^_`{|}~")]
async fn none(token: Option<IdToken>) -> impl Responder {
    format!("{}", token.is_some())
}

fn main() {
    let _app = App::new().service(all).service(none);
}
