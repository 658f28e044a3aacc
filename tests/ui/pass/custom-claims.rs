#![deny(warnings, unused_qualifications)]

use actix_web::{App, Responder, get};
use oidc_actix::{IdToken, auth};
use serde::Deserialize;

#[derive(Deserialize)]
struct MyClaims {
    sub: String,
    #[serde(default)]
    tenant: Option<String>,
}

#[get("/mine")]
#[auth::required(claims = {"tenant": "acme"})]
async fn mine(token: IdToken<MyClaims>) -> impl Responder {
    format!("{} {:?}", token.sub, token.tenant)
}

#[get("/maybe-mine")]
#[auth::optional(scopes = "tenant")]
async fn maybe_mine(token: Option<IdToken<MyClaims>>) -> impl Responder {
    token.map(|t| t.sub.clone()).unwrap_or_default()
}

fn main() {
    let _app = App::new().service(mine).service(maybe_mine);
}
